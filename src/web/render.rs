//! The page templates (handlebars, as the mails; built into the binary from `src/web/pages/`)
//! and the frame every page shares: the language, the menu, who is signed in, the language
//! switch. Strict mode: a template naming a value the page does not give fails to render, and
//! the tests render every page.

use super::auth::User;
use super::i18n::Lang;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use handlebars::Handlebars;
use serde_json::{json, Value};

/// The templates, by name.
const TEMPLATES: &[(&str, &str)] = &[
    ("layout", include_str!("pages/layout.hbs")),
    ("overview", include_str!("pages/overview.hbs")),
    ("cases", include_str!("pages/cases.hbs")),
    ("case", include_str!("pages/case.hbs")),
    ("ignored", include_str!("pages/ignored.hbs")),
    ("absences", include_str!("pages/absences.hbs")),
    ("report", include_str!("pages/report.hbs")),
    ("message", include_str!("pages/message.hbs")),
];

/// The page's stylesheet (served as `/style.css`: the Content-Security-Policy allows no inline
/// style).
pub const STYLE: &str = include_str!("pages/style.css");

/// The compiled page templates.
#[derive(Debug)]
pub struct Pages {
    hb: Handlebars<'static>,
}

impl Pages {
    /// Compiles every template.
    ///
    /// # Errors
    /// The first template that does not compile.
    pub fn new() -> Result<Pages, handlebars::TemplateError> {
        let mut hb = Handlebars::new();
        hb.set_strict_mode(true);
        for (name, text) in TEMPLATES {
            hb.register_template_string(name, text)?;
        }
        Ok(Pages { hb })
    }

    /// Page `template` with `data` for `user`, inside the shared frame, with `status`.
    pub fn page(
        &self,
        status: StatusCode,
        user: &User,
        title: &str,
        template: &str,
        mut data: Value,
    ) -> Response {
        let t = user.lang.words();
        data["t"] = t.clone();
        let body = match self.hb.render(template, &data) {
            Ok(b) => b,
            Err(e) => return render_failed(template, &e),
        };
        let v = &user.viewer;
        let frame = json!({
            "t": t,
            "lang": user.lang.code(),
            "title": title,
            "user": v.email,
            "sees_ignored": v.sees_all() || !v.manages.is_empty(),
            // Who reads a report: managers, admins, registrars (`Deed::SeeReport`).
            "sees_report": v.sees_all() || !v.manages.is_empty(),
            "body": body,
            "other_lang": match user.lang { Lang::Sv => "en", Lang::En => "sv" },
            "other_lang_name": match user.lang { Lang::Sv => "English", Lang::En => "Svenska" },
        });
        match self.hb.render("layout", &frame) {
            Ok(html) => (status, Html(html)).into_response(),
            Err(e) => render_failed("layout", &e),
        }
    }

    /// A short page saying `text` under `title`, with a link back to `back`.
    pub fn message(
        &self,
        status: StatusCode,
        user: &User,
        title: &str,
        text: &str,
        back: &str,
    ) -> Response {
        let data = json!({ "heading": title, "text": text, "back": back });
        self.page(status, user, title, "message", data)
    }
}

fn render_failed(template: &str, e: &handlebars::RenderError) -> Response {
    tracing::error!(template, error = %e, "a web page could not be rendered");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "the page could not be rendered; the log says why\n",
    )
        .into_response()
}

/// `text` safe inside HTML.
pub fn escape(text: &str) -> String {
    handlebars::html_escape(text)
}
