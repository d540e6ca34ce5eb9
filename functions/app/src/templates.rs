//! Shops' own templates, read from their folders at start-up and compiled by core's
//! `Renderer` (which reads no files itself).

use std::path::{Path, PathBuf};

use cartback_core::messages::render::{Renderer, TemplateDirError, TemplateFile, template_name};

/// Adds `shop`'s own templates from `dir` (see `Renderer::with_shop_files` for the layout).
pub fn with_shop_templates(
    renderer: Renderer,
    shop: &str,
    dir: &Path,
) -> Result<Renderer, TemplateDirError> {
    let files = template_files(dir)?;
    renderer.with_shop_files(shop, &dir.display().to_string(), files)
}

/// Adds every shop directory under `root` (`root/<shop id>/email/...`), as
/// [`with_shop_templates`] does for one.
pub fn with_template_root(
    mut renderer: Renderer,
    root: &Path,
) -> Result<Renderer, TemplateDirError> {
    let entries = std::fs::read_dir(root).map_err(|e| TemplateDirError {
        file: root.display().to_string(),
        line: None,
        problem: format!("cannot read the directory: {e}"),
        fix: "point CARTBACK_TEMPLATES_DIR at a directory with one folder per shop id".into(),
    })?;
    let mut dirs: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        if let Some(shop) = dir.file_name().and_then(|n| n.to_str()).map(str::to_owned) {
            renderer = with_shop_templates(renderer, &shop, &dir)?;
        }
    }
    Ok(renderer)
}

/// Every template file under `dir` with the name it is known by, read; anything there that
/// is not a template is an error rather than silently ignored.
fn template_files(dir: &Path) -> Result<Vec<TemplateFile>, TemplateDirError> {
    let mut found: Vec<(PathBuf, String)> = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let entries = std::fs::read_dir(&current).map_err(|e| TemplateDirError {
            file: current.display().to_string(),
            line: None,
            problem: format!("cannot read the directory: {e}"),
            fix: "check the path and its permissions".into(),
        })?;
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let relative = path
                .strip_prefix(dir)
                .unwrap_or(&path)
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>();
            let relative: Vec<&str> = relative.iter().map(String::as_str).collect();
            if let Some(name) = template_name(&path.display().to_string(), &relative)? {
                found.push((path, name));
            }
        }
    }
    found.sort();
    found
        .into_iter()
        .map(|(path, name)| {
            let file = path.display().to_string();
            let source = std::fs::read_to_string(&path).map_err(|e| TemplateDirError {
                file: file.clone(),
                line: None,
                problem: format!("cannot read: {e}"),
                fix: "make the file readable UTF-8 text".into(),
            })?;
            Ok(TemplateFile { file, name, source })
        })
        .collect()
}
