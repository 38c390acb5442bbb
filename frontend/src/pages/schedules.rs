//! Recurring schedules: a cron expression that submits a task each time it fires.

use std::collections::BTreeMap;

use api_types::{FieldError, MissedPolicy, Role, Schedule, ScheduleInput, ScheduleView, Template};
use leptos::prelude::*;

use crate::api;
use crate::components::{local_time, split_list, Check, Errors, Field, Select};
use crate::crud::{crud_page, opt_text, to_body, Editor};
use crate::i18n::*;

#[derive(Clone, Copy)]
struct ScheduleEditor {
    name: RwSignal<String>,
    cron: RwSignal<String>,
    timezone: RwSignal<String>,
    template: RwSignal<String>,
    args: RwSignal<String>,
    hosts: RwSignal<String>,
    needs_approval: RwSignal<bool>,
    enabled: RwSignal<bool>,
    missed: RwSignal<String>,
}

/// `KEY=value` lines.
pub fn parse_args(text: &str) -> Result<BTreeMap<String, String>, FieldError> {
    let mut args = BTreeMap::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let Some((k, v)) = line.split_once('=') else {
            let text = td_string!(crate::i18n::current(), admin.shared.write_as_key_value);
            return Err(FieldError::new("args", fill(text, &[("line", &format!("{line:?}"))])));
        };
        args.insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(args)
}

/// `group: host, host` lines.
pub fn parse_hosts(text: &str) -> Result<BTreeMap<String, Vec<String>>, FieldError> {
    let mut hosts = BTreeMap::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let Some((g, list)) = line.split_once(':') else {
            let text = td_string!(crate::i18n::current(), admin.shared.write_as_group_hosts);
            return Err(FieldError::new("hosts", fill(text, &[("line", &format!("{line:?}"))])));
        };
        hosts.insert(g.trim().to_string(), split_list(list));
    }
    Ok(hosts)
}

impl Editor for ScheduleEditor {
    type Item = ScheduleView;
    const PATH: &'static str = "/schedules";
    fn noun() -> String {
        td_string!(crate::i18n::current(), admin.schedules.noun).to_string()
    }
    const WRITE_ROLE: Role = Role::Operator;

    fn new() -> Self {
        ScheduleEditor {
            name: RwSignal::default(),
            cron: RwSignal::new("0 3 * * *".into()),
            timezone: RwSignal::default(),
            template: RwSignal::default(),
            args: RwSignal::default(),
            hosts: RwSignal::new("1: ".into()),
            needs_approval: RwSignal::default(),
            enabled: RwSignal::new(true),
            missed: RwSignal::new("run_once".into()),
        }
    }

    fn fill(self, s: Option<&ScheduleView>) {
        self.name.set(s.map(|s| s.name.clone()).unwrap_or_default());
        self.cron.set(s.map_or("0 3 * * *".into(), |s| s.cron.clone()));
        self.timezone.set(s.map(|s| s.timezone.clone()).unwrap_or_default());
        self.template.set(s.map(|s| s.template_id.to_string()).unwrap_or_default());
        self.args.set(s.map(|s| s.args.iter().map(|(k, v)| format!("{k}={v}\n")).collect()).unwrap_or_default());
        self.hosts
            .set(s.map_or("1: ".into(), |s| s.hosts.iter().map(|(g, h)| format!("{g}: {}\n", h.join(", "))).collect()));
        self.needs_approval.set(s.is_some_and(|s| s.schedule == Schedule::New));
        self.enabled.set(s.is_none_or(|s| s.enabled));
        self.missed.set(s.map_or("run_once", |s| s.missed_policy.as_str()).to_string());
    }

    fn body(self, _: bool) -> Result<serde_json::Value, FieldError> {
        let template_id = self.template.get_untracked().parse().map_err(|_| {
            FieldError::new("template_id", td_string!(crate::i18n::current(), admin.shared.choose_template))
        })?;
        to_body(&ScheduleInput {
            name: self.name.get_untracked(),
            cron: self.cron.get_untracked().trim().to_string(),
            timezone: opt_text(self.timezone.get_untracked()),
            template_id,
            args: parse_args(&self.args.get_untracked())?,
            hosts: parse_hosts(&self.hosts.get_untracked())?,
            schedule: if self.needs_approval.get_untracked() { Schedule::New } else { Schedule::Ready },
            enabled: Some(self.enabled.get_untracked()),
            missed_policy: MissedPolicy::parse(&self.missed.get_untracked()),
        })
    }

    fn form(self, errors: Errors) -> AnyView {
        let i18n = use_i18n();
        let templates = LocalResource::new(|| api::get::<Vec<Template>>("/templates"));
        let options = crate::components::template_options(templates);
        let missed = vec![
            ("run_once".to_string(), t_string!(i18n, admin.schedules.missed_run_once).to_string()),
            ("run_all".into(), t_string!(i18n, admin.schedules.missed_run_all).into()),
            ("skip".into(), t_string!(i18n, admin.schedules.missed_skip).into()),
        ];
        view! {
            <Field label=t_string!(i18n, admin.shared.name) value=self.name errors=errors field="name" />
            <Field label=t_string!(i18n, admin.schedules.cron) value=self.cron errors=errors field="cron"
                hint=t_string!(i18n, admin.schedules.cron_hint) />
            <Field label=t_string!(i18n, admin.schedules.timezone) value=self.timezone errors=errors field="timezone"
                placeholder=t_string!(i18n, admin.schedules.timezone_placeholder) />
            <Select label=t_string!(i18n, admin.shared.template) value=self.template options=options errors=errors
                field="template_id" />
            <Field label=t_string!(i18n, admin.schedules.args) value=self.args errors=errors field="args"
                multiline=true />
            <Field label=t_string!(i18n, admin.shared.hosts_per_line) value=self.hosts errors=errors field="hosts"
                multiline=true />
            <Check label=t_string!(i18n, admin.shared.needs_approval) value=self.needs_approval />
            <Check label=t_string!(i18n, admin.shared.enabled) value=self.enabled />
            <Select label=t_string!(i18n, admin.schedules.missed) value=self.missed options=missed errors=errors
                field="missed_policy" />
        }
        .into_any()
    }

    fn headers() -> Vec<String> {
        let l = crate::i18n::current();
        [
            td_string!(l, admin.shared.name),
            td_string!(l, admin.schedules.when),
            td_string!(l, admin.shared.template),
            td_string!(l, admin.schedules.next),
            td_string!(l, admin.schedules.last_fired),
        ]
        .map(String::from)
        .to_vec()
    }

    fn cells(s: &ScheduleView) -> AnyView {
        let l = crate::i18n::current();
        let next = s
            .next_fires
            .first()
            .map(|t| local_time(t))
            .unwrap_or_else(|| td_string!(l, admin.schedules.disabled).into());
        let by = fill(td_string!(l, admin.schedules.by_owner), &[("owner", &s.owner)]);
        view! {
            <td><strong>{s.name.clone()}</strong><br /><span class="muted">{by}</span></td>
            <td><code>{s.cron.clone()}</code><br /><span class="muted">{s.timezone.clone()}</span></td>
            <td><a href=format!("/templates/{}", s.template_id)>{format!("#{}", s.template_id)}</a></td>
            <td class="nowrap">{next}</td>
            <td class="nowrap">{s.last_fire_at.as_deref().map(local_time).unwrap_or_default()}</td>
        }
        .into_any()
    }

    fn id(s: &ScheduleView) -> i64 {
        s.id
    }

    fn name(s: &ScheduleView) -> String {
        s.name.clone()
    }
}

#[component]
pub fn Schedules() -> impl IntoView {
    let i18n = use_i18n();
    crud_page::<ScheduleEditor>(
        t_string!(i18n, admin.schedules.title).to_string(),
        t_string!(i18n, admin.schedules.intro).to_string(),
    )
}
