//! The texts kvittens sends, as handlebars templates: loaded once, in strict mode, so that a
//! typo in a template stops the start-up instead of leaving a blank in a resident's mail.

use handlebars::Handlebars;
use rust_embed::RustEmbed;
use std::collections::HashMap;
use std::path::Path;

/// The templates shipped in `templates/`, built into the binary so that an install without the
/// folder still works. The folder is the one list of templates: each `<name>.hbs` in it is a
/// template kvittens uses, named `<kind>.<language>`.
#[derive(RustEmbed)]
#[folder = "templates/"]
#[include = "*.hbs"]
struct BuiltIn;

/// Every template kvittens uses, by name (`<kind>.<language>`, the file is `<name>.hbs`), in
/// the order of their file names.
pub fn names() -> impl Iterator<Item = String> {
    BuiltIn::iter().filter_map(|f| f.strip_suffix(".hbs").map(str::to_string))
}

/// The built-in text of template `name`; `None` for a name kvittens does not have.
fn built_in(name: &str) -> Option<String> {
    let file = BuiltIn::get(&format!("{name}.hbs"))?;
    Some(String::from_utf8_lossy(&file.data).into_owned())
}

/// A template problem, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("template {file}: {message}")]
pub struct TemplateError {
    /// The template file (or built-in name).
    pub file: String,
    /// What is wrong, in words (the cause's own message, or why it could not be read).
    pub message: String,
    /// The cause: the I/O error, or handlebars' parse or render error.
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// The loaded templates: the global set (`[daemon] templates`, else built in), and for each
/// department with its own folder (`templates` in its `[[department]]`) the files that folder
/// has, registered as `<department id>/<name>`.
#[derive(Debug)]
pub struct Templates {
    hb: Handlebars<'static>,
    /// Where each registered template was read from, by registered name: a path, or
    /// `(built in) <name>.hbs`; errors name it.
    files: HashMap<String, String>,
}

/// How an error names a built-in template.
fn built_in_file(name: &str) -> String {
    format!("(built in) {name}.hbs")
}

/// Template `name` from `dir` as (path for messages, text); `None` when the folder has no such
/// file.
fn read(dir: &Path, name: &str) -> Result<Option<(String, String)>, TemplateError> {
    let path = dir.join(format!("{name}.hbs"));
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some((path.display().to_string(), text))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(TemplateError {
            file: path.display().to_string(),
            message: format!("cannot read it: {e}"),
            source: Box::new(e),
        }),
    }
}

impl Templates {
    /// Loads every template: from `dir` when given, else the built-in ones. A file that `dir`
    /// lacks is taken from the built-in templates, so that a custom folder need hold only the
    /// texts the municipality changed, and a template added in a new version has its text.
    ///
    /// # Errors
    /// A [`TemplateError`] naming the file when a template in `dir` cannot be read (other than
    /// not being there) or any template does not parse.
    pub fn load(dir: Option<&Path>) -> Result<Templates, TemplateError> {
        Templates::load_all(dir, &[])
    }

    /// [`Templates::load`], and for each `(department id, folder)` the files that folder has:
    /// a department's mail then takes its own text where it has one, else the global folder's,
    /// else the built-in text — file by file, so that a department changes only what it must.
    ///
    /// # Errors
    /// A [`TemplateError`] naming the file when a template cannot be read (other than not
    /// being there) or does not parse.
    pub fn load_all(
        dir: Option<&Path>,
        departments: &[(&str, &Path)],
    ) -> Result<Templates, TemplateError> {
        let mut hb = Handlebars::new();
        hb.set_strict_mode(true);
        // Plain-text mail: nothing is HTML, and an escaped "&amp;" would reach the resident.
        hb.register_escape_fn(handlebars::no_escape);
        let mut t = Templates {
            hb,
            files: HashMap::new(),
        };
        for name in names() {
            let (file, text) = match dir.map(|d| read(d, &name)).transpose()?.flatten() {
                Some(found) => found,
                None => (built_in_file(&name), built_in(&name).unwrap_or_default()),
            };
            t.register(name, file, text)?;
        }
        for (id, folder) in departments {
            for name in names() {
                if let Some((file, text)) = read(folder, &name)? {
                    t.register(format!("{id}/{name}"), file, text)?;
                }
            }
        }
        Ok(t)
    }

    /// Parses `text` as template `name`, read from `file`.
    fn register(&mut self, name: String, file: String, text: String) -> Result<(), TemplateError> {
        self.hb
            .register_template_string(&name, text)
            .map_err(|e| TemplateError {
                file: file.clone(),
                message: e.to_string(),
                source: Box::new(e),
            })?;
        self.files.insert(name, file);
        Ok(())
    }

    /// Whether template `name` came from the global custom folder (not the built-in text).
    pub fn is_custom(&self, name: &str) -> bool {
        self.files
            .get(name)
            .is_some_and(|f| *f != built_in_file(name))
    }

    /// Where template `name` is read from for `department` (an id): its own folder's file,
    /// else the global folder's, else `(built in) <name>.hbs`.
    pub fn file_for(&self, department: Option<&str>, name: &str) -> Option<&str> {
        let own = department.map(|d| format!("{d}/{name}"));
        own.and_then(|o| self.files.get(&o))
            .or_else(|| self.files.get(name))
            .map(String::as_str)
    }

    /// Renders template `name` with `data`. The department whose text is used is the one the
    /// data is about (`department.id`, which every mail about a case or a department carries,
    /// as its text names the department): its own file when its folder has one, else the
    /// global one. So every mail, also one added later, follows the department's folder.
    ///
    /// # Errors
    /// A [`TemplateError`] naming the file when strict mode meets a value `data` lacks or a
    /// helper fails.
    pub fn render(&self, name: &str, data: &serde_json::Value) -> Result<String, TemplateError> {
        let own = (data.pointer("/department/id").and_then(|v| v.as_str()))
            .map(|d| format!("{d}/{name}"))
            .filter(|o| self.hb.has_template(o));
        let registered = own.as_deref().unwrap_or(name);
        self.hb.render(registered, data).map_err(|e| TemplateError {
            file: (self.files.get(registered).cloned()).unwrap_or_else(|| built_in_file(name)),
            message: e.to_string(),
            source: Box::new(e),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_typo_is_an_error_not_a_blank() {
        let dir = tempfile::tempdir().unwrap();
        for name in names() {
            std::fs::write(
                dir.path().join(format!("{name}.hbs")),
                "Case {{case.numbr}}",
            )
            .unwrap();
        }
        let t = Templates::load(Some(dir.path())).unwrap();
        let err = t
            .render("receipt.sv", &json!({"case": {"number": "X"}}))
            .unwrap_err();
        assert!(err.file.ends_with("receipt.sv.hbs"), "{err}");
    }

    #[test]
    fn a_file_the_folder_lacks_is_the_built_in_text() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("receipt.sv.hbs"),
            "Eget kvitto {{case.number}}",
        )
        .unwrap();
        let t = Templates::load(Some(dir.path())).unwrap();
        let data = json!({"case": {"number": "BMN-2026-0001"}});
        assert_eq!(
            t.render("receipt.sv", &data).unwrap(),
            "Eget kvitto BMN-2026-0001"
        );
        assert!(t.is_custom("receipt.sv") && !t.is_custom("receipt.en"));
        // The built-in English receipt, with its strict mode: a missing value names the
        // built-in file, not a file the folder does not have.
        let err = t.render("receipt.en", &data).unwrap_err();
        assert_eq!(err.file, "(built in) receipt.en.hbs", "{err}");
        let empty = tempfile::tempdir().unwrap();
        assert!(Templates::load(Some(empty.path())).is_ok());
    }

    #[test]
    fn an_unreadable_file_names_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("delay.en.hbs")).unwrap();
        let err = Templates::load(Some(dir.path())).unwrap_err();
        assert!(err.file.ends_with("delay.en.hbs"), "{err}");
        assert!(err.message.starts_with("cannot read it"), "{err}");
    }

    #[test]
    fn the_folder_is_the_one_list() {
        let shipped: Vec<String> =
            std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/templates"))
                .unwrap()
                .filter_map(|e| e.unwrap().file_name().into_string().ok())
                .filter_map(|f| f.strip_suffix(".hbs").map(str::to_string))
                .collect();
        let mut names: Vec<String> = names().collect();
        let mut shipped = shipped;
        names.sort();
        shipped.sort();
        assert_eq!(names, shipped);
        assert!(names.len() >= 18, "{names:?}");
        for name in &names {
            assert!(built_in(name).is_some_and(|t| !t.is_empty()), "{name}");
        }
    }

    #[test]
    fn values_are_text_never_template_or_html() {
        let t = Templates::load(None).unwrap();
        let _ = t; // built-ins parse
        let dir = tempfile::tempdir().unwrap();
        for name in names() {
            std::fs::write(dir.path().join(format!("{name}.hbs")), "[{{subject}}]").unwrap();
        }
        let t = Templates::load(Some(dir.path())).unwrap();
        let out = t
            .render("receipt.en", &json!({"subject": "{{officer.email}} & <b>"}))
            .unwrap();
        assert_eq!(out, "[{{officer.email}} & <b>]");
    }

    #[test]
    fn a_department_folder_falls_back_file_by_file_to_the_global_then_built_in() {
        let global = tempfile::tempdir().unwrap();
        let own = tempfile::tempdir().unwrap();
        std::fs::write(
            global.path().join("receipt.sv.hbs"),
            "Global {{case.number}}",
        )
        .unwrap();
        std::fs::write(global.path().join("delay.sv.hbs"), "Global dröjsmål").unwrap();
        std::fs::write(own.path().join("receipt.sv.hbs"), "Gatu {{case.number}}").unwrap();
        let t = Templates::load_all(Some(global.path()), &[("gata", own.path())]).unwrap();
        let data = |dept: &str| json!({"department": {"id": dept}, "case": {"number": "N-1"}});
        // The department's own file, else the global one, else the built-in text.
        assert_eq!(t.render("receipt.sv", &data("gata")).unwrap(), "Gatu N-1");
        assert_eq!(t.render("receipt.sv", &data("bygg")).unwrap(), "Global N-1");
        assert_eq!(
            t.render("delay.sv", &data("gata")).unwrap(),
            "Global dröjsmål"
        );
        assert_eq!(
            t.file_for(Some("gata"), "undeliverable.sv"),
            Some("(built in) undeliverable.sv.hbs")
        );
        assert!(t
            .file_for(Some("gata"), "receipt.sv")
            .is_some_and(|f| f.starts_with(&own.path().display().to_string())));
        // An error in the department's file names that file.
        std::fs::write(own.path().join("receipt.en.hbs"), "{{case.numbr}}").unwrap();
        let t = Templates::load_all(Some(global.path()), &[("gata", own.path())]).unwrap();
        let err = t.render("receipt.en", &data("gata")).unwrap_err();
        assert!(
            err.file.starts_with(&own.path().display().to_string()),
            "{err}"
        );
        std::fs::write(own.path().join("digest.en.hbs"), "{{#if}}").unwrap();
        let err = Templates::load_all(None, &[("gata", own.path())]).unwrap_err();
        assert!(err.file.ends_with("digest.en.hbs"), "{err}");
    }
}
