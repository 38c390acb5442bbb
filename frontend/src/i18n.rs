//! The UI's languages, English and Simplified Chinese, with leptos_i18n: the catalogues are
//! `locales/LOCALE/NAMESPACE.json` (declared in Cargo.toml's `package.metadata.leptos-i18n`),
//! compiled in and checked at build time, one namespace per group of pages. The language
//! comes from a cookie set by the menu's switch, else from the browser's languages;
//! `<html lang>` follows it.

// load_locales! is deprecated in favour of leptos_i18n_build's build.rs code generation,
// which generates the same module but builds ICU's data exporter (about 80 more crates,
// minutes on a two-core CI machine) for formatting features this UI does not use.
#[allow(unused_imports, dead_code, deprecated, clippy::all)]
mod generated {
    leptos_i18n::load_locales!();
}

pub use generated::i18n::*;

/// A catalogue text with its `{name}` places filled: `fill(text, &[("id", &7)])`. (The
/// catalogues use single braces and this, not leptos_i18n's `{{ name }}` interpolation,
/// which needs the build.rs code generation to give strings.)
pub fn fill(text: &str, values: &[(&str, &dyn std::fmt::Display)]) -> String {
    api_types::message::fill(text, values)
}

/// The language the page is shown in, for code that runs outside a component (requests,
/// time formatting): `<html lang>`, which the i18n context keeps in step.
/// The message catalogue's name for the reader's language (`None`: English): what
/// [`api_types::Message::text_in`] takes, and what requests send as `Accept-Language`.
pub fn message_locale() -> Option<&'static str> {
    match current() {
        Locale::zh_CN => Some("zh-CN"),
        Locale::en => None,
    }
}

/// A shared check's message in the reader's language.
pub fn say(e: &api_types::FieldError) -> String {
    e.say.text_in(message_locale())
}

pub fn current() -> Locale {
    let lang = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.document_element())
        .and_then(|e| e.get_attribute("lang"))
        .unwrap_or_default();
    if lang.starts_with("zh") {
        Locale::zh_CN
    } else {
        Locale::en
    }
}
