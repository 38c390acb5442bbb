//! GitLab rules: which tags of which project create which task (for the Tag Push webhook).

use api_types::{FieldError, GitlabRule, GitlabRuleInput, Schedule, Template};
use leptos::prelude::*;

use crate::api;
use crate::components::{Check, Errors, Field, Select};
use crate::crud::{crud_page, opt_text, to_body, Editor};
use crate::i18n::*;
use crate::pages::schedules::{parse_args, parse_hosts};

#[derive(Clone, Copy)]
struct RuleEditor {
    name: RwSignal<String>,
    project: RwSignal<String>,
    pattern: RwSignal<String>,
    template: RwSignal<String>,
    args: RwSignal<String>,
    hosts: RwSignal<String>,
    needs_approval: RwSignal<bool>,
    secret: RwSignal<String>,
    enabled: RwSignal<bool>,
}

impl Editor for RuleEditor {
    type Item = GitlabRule;
    const PATH: &'static str = "/gitlab/rules";
    fn noun() -> String {
        td_string!(crate::i18n::current(), admin.gitlab.noun).to_string()
    }

    fn new() -> Self {
        RuleEditor {
            name: RwSignal::default(),
            project: RwSignal::default(),
            pattern: RwSignal::new("^release-".into()),
            template: RwSignal::default(),
            args: RwSignal::default(),
            hosts: RwSignal::new("1: ".into()),
            needs_approval: RwSignal::new(true),
            secret: RwSignal::default(),
            enabled: RwSignal::new(true),
        }
    }

    fn fill(self, r: Option<&GitlabRule>) {
        self.name.set(r.map(|r| r.name.clone()).unwrap_or_default());
        self.project.set(r.map(|r| r.project.clone()).unwrap_or_default());
        self.pattern.set(r.map_or("^release-".into(), |r| r.tag_pattern.clone()));
        self.template.set(r.map(|r| r.template_id.to_string()).unwrap_or_default());
        self.args.set(r.map(|r| r.args.iter().map(|(k, v)| format!("{k}={v}\n")).collect()).unwrap_or_default());
        self.hosts
            .set(r.map_or("1: ".into(), |r| r.hosts.iter().map(|(g, h)| format!("{g}: {}\n", h.join(", "))).collect()));
        self.needs_approval.set(r.is_none_or(|r| r.schedule == Schedule::New));
        self.secret.set(String::new());
        self.enabled.set(r.is_none_or(|r| r.enabled));
    }

    fn body(self, editing: bool) -> Result<serde_json::Value, FieldError> {
        let l = crate::i18n::current();
        let template_id = self
            .template
            .get_untracked()
            .parse()
            .map_err(|_| FieldError::new("template_id", td_string!(l, admin.shared.choose_template)))?;
        let secret = opt_text(self.secret.get_untracked());
        if !editing && secret.is_none() {
            return Err(FieldError::new("secret", td_string!(l, admin.gitlab.choose_secret)));
        }
        to_body(&GitlabRuleInput {
            name: self.name.get_untracked(),
            project: self.project.get_untracked(),
            tag_pattern: self.pattern.get_untracked(),
            template_id,
            args: parse_args(&self.args.get_untracked())?,
            hosts: parse_hosts(&self.hosts.get_untracked())?,
            schedule: if self.needs_approval.get_untracked() { Schedule::New } else { Schedule::Ready },
            secret,
            enabled: Some(self.enabled.get_untracked()),
        })
    }

    fn form(self, errors: Errors) -> AnyView {
        let templates = LocalResource::new(|| api::get::<Vec<Template>>("/templates"));
        let options = crate::components::template_options(templates);
        let i18n = use_i18n();
        // The placeholders are template syntax, kept out of the catalogue text.
        let args_hint = fill(
            t_string!(i18n, admin.gitlab.args_hint),
            &[("vars", &"{{ tag }}, {{ project }}, {{ commit }}, {{ user }}")],
        );
        view! {
            <Field label=t_string!(i18n, admin.shared.name) value=self.name errors=errors field="name" />
            <Field label=t_string!(i18n, admin.gitlab.project) value=self.project errors=errors field="project"
                placeholder="group/app" />
            <Field label=t_string!(i18n, admin.gitlab.tag_pattern) value=self.pattern errors=errors field="tag_pattern"
                hint=t_string!(i18n, admin.gitlab.tag_pattern_hint) />
            <Select label=t_string!(i18n, admin.shared.template) value=self.template options=options errors=errors
                field="template_id" />
            <Field label=t_string!(i18n, admin.gitlab.args) value=self.args errors=errors field="args" multiline=true
                hint=args_hint />
            <Field label=t_string!(i18n, admin.shared.hosts_per_line) value=self.hosts errors=errors field="hosts"
                multiline=true />
            <Check label=t_string!(i18n, admin.shared.needs_approval) value=self.needs_approval />
            <Field label=t_string!(i18n, admin.gitlab.secret) value=self.secret errors=errors field="secret"
                kind="password" hint=t_string!(i18n, admin.gitlab.secret_hint) />
            <Check label=t_string!(i18n, admin.shared.enabled) value=self.enabled />
        }
        .into_any()
    }

    fn headers() -> Vec<String> {
        let l = crate::i18n::current();
        [
            td_string!(l, admin.shared.name),
            td_string!(l, admin.gitlab.project),
            td_string!(l, admin.gitlab.tags),
            td_string!(l, admin.shared.template),
            td_string!(l, admin.gitlab.creates),
        ]
        .map(String::from)
        .to_vec()
    }

    fn cells(r: &GitlabRule) -> AnyView {
        let l = crate::i18n::current();
        let paused = td_string!(l, admin.gitlab.paused);
        let creates = if r.schedule == Schedule::New {
            td_string!(l, admin.gitlab.creates_new)
        } else {
            td_string!(l, admin.gitlab.creates_ready)
        };
        view! {
            <td><strong>{r.name.clone()}</strong>
                {(!r.enabled).then(|| view! { " " <span class="badge st-cancelled">{paused}</span> })}</td>
            <td><code>{r.project.clone()}</code></td>
            <td><code>{r.tag_pattern.clone()}</code></td>
            <td><a href=format!("/templates/{}", r.template_id)>{format!("#{}", r.template_id)}</a></td>
            <td>{creates}</td>
        }
        .into_any()
    }

    fn id(r: &GitlabRule) -> i64 {
        r.id
    }

    fn name(r: &GitlabRule) -> String {
        r.name.clone()
    }
}

#[component]
pub fn GitlabRules() -> impl IntoView {
    let i18n = use_i18n();
    let intro = fill(t_string!(i18n, admin.gitlab.intro), &[("hook", &"POST /api/v1/hooks/gitlab")]);
    crud_page::<RuleEditor>(t_string!(i18n, admin.gitlab.title).to_string(), intro)
}
