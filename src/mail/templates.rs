//! The texts kvittens sends, as handlebars templates: loaded once, in strict mode, so that a
//! typo in a template stops the start-up instead of leaving a blank in a resident's mail.

use handlebars::Handlebars;
use rust_embed::RustEmbed;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
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
    /// The registered templates whose success depends only on the *shape* of their data
    /// (see [`shape_hash`]); the start-up check renders each of them once per shape.
    shape_only: HashSet<String>,
    /// The departments with a folder of their own (whose templates are `<id>/<name>`).
    own_folders: HashSet<String>,
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
            shape_only: HashSet::new(),
            own_folders: HashSet::new(),
        };
        for name in names() {
            let (file, text) = match dir.map(|d| read(d, &name)).transpose()?.flatten() {
                Some(found) => found,
                None => (built_in_file(&name), built_in(&name).unwrap_or_default()),
            };
            t.register(name, file, text)?;
        }
        for (id, folder) in departments {
            t.own_folders.insert(id.to_string());
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
        if (self.hb.get_template(&name)).is_some_and(|t| elements_shape_only(&t.elements)) {
            self.shape_only.insert(name.clone());
        } else {
            self.shape_only.remove(&name);
        }
        self.files.insert(name, file);
        Ok(())
    }

    /// What decides whether rendering `name` with `data` succeeds, as a number: the template
    /// registered for the data's department and the shape of `data` ([`shape_hash`]). Two
    /// renders with the same key succeed or fail alike, so the start-up check renders one of
    /// them — with 1 000 departments the check would otherwise render every template for each.
    /// `None` when the template calls a helper with arguments, a partial or a decorator (a
    /// custom template may compare a department's own values, `{{#if (eq department.id
    /// "gata")}}`): that one is rendered for every department, as before.
    /// `shape` is [`shape_of`]`(data)`, computed once by the caller for all the templates it
    /// renders with `data`.
    pub fn check_key(&self, name: &str, data: &serde_json::Value, shape: u64) -> Option<u64> {
        let registered = self.registered(name, data);
        if !self.shape_only.contains(registered.as_ref()) {
            return None;
        }
        let mut h = std::collections::hash_map::DefaultHasher::new();
        registered.hash(&mut h);
        shape.hash(&mut h);
        Some(h.finish())
    }

    /// The name `render` uses for `name` with `data`: the department's own template when its
    /// folder has one, else the global one.
    fn registered<'a>(&self, name: &'a str, data: &serde_json::Value) -> std::borrow::Cow<'a, str> {
        let own = (data.pointer("/department/id").and_then(|v| v.as_str()))
            .filter(|d| self.own_folders.contains(*d))
            .map(|d| format!("{d}/{name}"))
            .filter(|o| self.hb.has_template(o));
        own.map_or(std::borrow::Cow::Borrowed(name), std::borrow::Cow::Owned)
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
        let registered = self.registered(name, data);
        let registered = registered.as_ref();
        self.hb.render(registered, data).map_err(|e| TemplateError {
            file: (self.files.get(registered).cloned()).unwrap_or_else(|| built_in_file(name)),
            message: e.to_string(),
            source: Box::new(e),
        })
    }
}

/// Whether a template's elements use only what strict mode and the truthiness of values decide:
/// values (`{{case.number}}`) and the blocks `if`, `unless`, `each` and `with` over values —
/// no helper with arguments, no subexpression, partial or decorator, whose outcome may depend
/// on what a value *is* rather than whether it is there and empty.
fn elements_shape_only(elements: &[handlebars::template::TemplateElement]) -> bool {
    use handlebars::template::{Parameter, TemplateElement as E};
    let plain = |p: &Parameter| matches!(p, Parameter::Path(_) | Parameter::Literal(_));
    let inner = |t: &Option<handlebars::Template>| {
        t.as_ref().is_none_or(|t| elements_shape_only(&t.elements))
    };
    elements.iter().all(|e| match e {
        E::RawString(_) | E::Comment(_) => true,
        E::Expression(h) | E::HtmlExpression(h) => {
            h.params.is_empty()
                && h.hash.is_empty()
                && matches!(h.name, Parameter::Name(_) | Parameter::Path(_))
        }
        E::HelperBlock(h) => {
            matches!(&h.name, Parameter::Name(n) if ["if", "unless", "each", "with"].contains(&n.as_str()))
                && h.params.iter().all(plain)
                && h.hash.is_empty()
                && inner(&h.template)
                && inner(&h.inverse)
        }
        _ => false,
    })
}

/// The shape of `data` ([`shape_hash`]) as a number.
pub fn shape_of(data: &serde_json::Value) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    shape_hash(data, &mut h);
    h.finish()
}

/// Feeds `h` the shape of `v` as handlebars' strict mode and its blocks see it: which keys
/// there are, how long each list is, and for every value only whether `if` takes it as true
/// (a non-empty string, a number other than zero, `true`) — not the text itself. A template of
/// [`elements_shape_only`] renders or fails alike for two values of one shape.
pub fn shape_hash(v: &serde_json::Value, h: &mut impl Hasher) {
    use serde_json::Value as J;
    match v {
        J::Null => 0u8.hash(h),
        J::Bool(b) => (1u8, *b).hash(h),
        J::Number(n) => (2u8, n.as_f64().is_some_and(f64::is_normal)).hash(h),
        J::String(s) => (3u8, s.is_empty()).hash(h),
        J::Array(a) => {
            (4u8, a.len()).hash(h);
            a.iter().for_each(|x| shape_hash(x, h));
        }
        J::Object(o) => {
            (5u8, o.len()).hash(h);
            for (k, x) in o {
                k.hash(h);
                shape_hash(x, h);
            }
        }
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
