//! Submitting a task: pick a template, fill one field per parameter (labelled by its
//! alias, checked before sending), hosts per group, approval and execution time.

use std::collections::BTreeMap;

use api_types::{validate, Alias, FieldError, Host, ParamType, Role, Schedule, Task, TaskSubmit, Template};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::api;
use crate::components::{datetime_local_to_rfc3339, number, run, split_list, Check, Errors, Field, FormErrors, Select};
use crate::i18n::*;
use crate::session::use_session;

#[derive(Clone)]
struct Param {
    key: String,
    alias: Option<Alias>,
    value: RwSignal<String>,
}

#[derive(Clone)]
struct Group {
    name: String,
    hosts: RwSignal<String>,
}

/// Adds `sentence` to a hint after a full stop: `. ` in English, `。` in Chinese (none
/// after a sentence that already ends with one).
fn add_sentence(hint: &mut String, sentence: &str, stop: &str) {
    if hint.ends_with(['.', '!', '?']) {
        hint.push(' ');
    } else if !hint.is_empty() && !hint.ends_with(['。', '！', '？']) {
        hint.push_str(stop);
        if stop.is_ascii() {
            hint.push(' ');
        }
    }
    hint.push_str(sentence);
}

/// What the server shows instead of a secret argument.
const MASK: &str = "******";

/// Client-side checks, the same the server makes: required values and alias rules. Every
/// error is returned, so the form shows them all at once.
fn check_params(params: &[Param]) -> Result<BTreeMap<String, String>, Vec<FieldError>> {
    let l = crate::i18n::current();
    let mut args = BTreeMap::new();
    let mut errors = Vec::new();
    for p in params {
        let value = p.value.get_untracked();
        let field = format!("args.{}", p.key);
        if let Some(alias) = &p.alias {
            if value.is_empty() && alias.required && alias.default.is_none() {
                let message = fill(td_string!(l, tasks.submit.param_required), &[("label", &alias.label)]);
                errors.push(FieldError::new(field, message));
                continue;
            }
            if !value.is_empty() {
                if let Err(e) = validate::param_value(&field, alias, &value) {
                    errors.push(e);
                    continue;
                }
                // An alias's pattern is checked by the server, which answers 422 naming the
                // field (the browser's RegExp backtracks, and reads \w and \d as ASCII only).
            }
        }
        if !value.is_empty() {
            args.insert(p.key.clone(), value);
        }
    }
    if errors.is_empty() {
        Ok(args)
    } else {
        Err(errors)
    }
}

fn check_groups(groups: &[Group]) -> Result<BTreeMap<String, Vec<String>>, Vec<FieldError>> {
    let l = crate::i18n::current();
    let mut hosts = BTreeMap::new();
    let mut errors = Vec::new();
    for g in groups {
        let list = split_list(&g.hosts.get_untracked());
        if list.is_empty() {
            errors.push(FieldError::new(
                format!("hosts.{}", g.name),
                fill(td_string!(l, tasks.submit.group_needs_host), &[("group", &g.name)]),
            ));
        }
        hosts.insert(g.name.clone(), list);
    }
    if errors.is_empty() {
        Ok(hosts)
    } else {
        Err(errors)
    }
}

#[component]
pub fn Submit() -> impl IntoView {
    let session = use_session();
    let i18n = use_i18n();
    let navigate = use_navigate();
    let query = use_query_map();
    let templates = LocalResource::new(|| api::get::<Vec<Template>>("/templates"));
    let aliases = LocalResource::new(|| api::get::<Vec<Alias>>("/aliases"));
    let known_hosts = LocalResource::new(|| api::get::<Vec<Host>>("/hosts"));

    let template_id = RwSignal::new(query.with_untracked(|q| q.get("template").unwrap_or_default()));
    let name = RwSignal::new(String::new());
    let needs_approval = RwSignal::new(false);
    let exec_time = RwSignal::new(String::new());
    let details = RwSignal::new(String::new());
    let associated = RwSignal::new(String::new());
    let params = RwSignal::new(Vec::<Param>::new());
    let groups = RwSignal::new(Vec::<Group>::new());
    let errors = Errors::new();
    let busy = RwSignal::new(false);
    // "Submit again" (`?from=ID`): the form starts from that task's template, name,
    // arguments and hosts; it is a new task, approved again if it needs approval. Secret
    // arguments arrive masked and are left to the server (the template's default) or to
    // the submitter.
    let from = query.with_untracked(|q| q.get("from")).filter(|f| f.parse::<i64>().is_ok());
    let source = LocalResource::new(move || {
        let from = from.clone();
        async move {
            match from {
                Some(id) => api::get::<Task>(&format!("/tasks/{id}")).await.ok(),
                None => None,
            }
        }
    });
    let prefilled = StoredValue::new(false);
    Effect::new(move |_| {
        if let Some(Some(t)) = source.get() {
            if !prefilled.get_value() {
                template_id.set(t.template_id.to_string());
            }
        }
    });

    let template = Memo::new(move |_| {
        let id = template_id.get();
        templates.get().and_then(Result::ok).and_then(|list| list.into_iter().find(|t| t.id.to_string() == id))
    });
    // A new template (or the aliases arriving) lays out fresh fields with the defaults.
    Effect::new(move |_| {
        let Some(t) = template.get() else {
            params.set(vec![]);
            groups.set(vec![]);
            return;
        };
        let loaded_aliases = aliases.get().and_then(Result::ok);
        let aliases_here = loaded_aliases.is_some();
        let aliases = loaded_aliases.unwrap_or_default();
        params.set(
            t.params
                .iter()
                .map(|key| {
                    let alias = aliases.iter().find(|a| &a.key == key).cloned();
                    // A secret default is never sent to the browser (it arrives masked):
                    // the field stays empty and the server fills the default in.
                    let default =
                        alias.as_ref().filter(|a| !a.secret).and_then(|a| a.default.clone()).unwrap_or_default();
                    Param { key: key.clone(), alias, value: RwSignal::new(default) }
                })
                .collect(),
        );
        groups.set(
            t.groups
                .iter()
                .filter(|g| *g != "local")
                .map(|g| Group { name: g.clone(), hosts: RwSignal::new(String::new()) })
                .collect(),
        );
        if t.require_approval {
            needs_approval.set(true);
        }
        // Filled in once the aliases are here too: the fields are laid out again when they
        // arrive, which would wipe values copied before.
        if let Some(Some(task)) = source.get_untracked() {
            if !prefilled.get_value() && task.template_id == t.id && aliases_here {
                prefilled.set_value(true);
                name.set(task.name.clone());
                details.set(task.details.clone());
                associated.set(task.associated_users.join(", "));
                needs_approval.set(t.require_approval || task.schedule == Schedule::New || task.approval.is_some());
                for p in params.get_untracked() {
                    let secret = p.alias.as_ref().is_some_and(|a| a.secret);
                    // A secret comes back masked: never send the mask as the value.
                    if let Some(v) = task.args.get(&p.key).filter(|v| !secret && v.as_str() != MASK) {
                        p.value.set(v.clone());
                    }
                }
                for g in groups.get_untracked() {
                    if let Some(list) = task.hosts.get(&g.name) {
                        g.hosts.set(list.join(", "));
                    }
                }
            }
        }
        errors.clear();
    });

    let template_options = crate::components::template_options(templates);

    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let Some(t) = template.get_untracked() else {
            let message = td_string!(crate::i18n::current(), tasks.submit.choose_template);
            return errors.local(FieldError::new("template_id", message));
        };
        let (args, hosts) = match (check_params(&params.get_untracked()), check_groups(&groups.get_untracked())) {
            (Ok(args), Ok(hosts)) => (args, hosts),
            (a, h) => {
                return errors.local_all(a.err().into_iter().chain(h.err()).flatten().collect());
            }
        };
        let body = TaskSubmit {
            name: Some(name.get_untracked()).filter(|n| !n.trim().is_empty()),
            template_id: t.id,
            args,
            hosts,
            schedule: if needs_approval.get_untracked() { Schedule::New } else { Schedule::Ready },
            exec_time: datetime_local_to_rfc3339(&exec_time.get_untracked()),
            executor: None,
            details: Some(details.get_untracked()).filter(|d| !d.is_empty()),
            associated_users: split_list(&associated.get_untracked()),
            concurrency: None,
            external_args: vec![],
        };
        let navigate = navigate.clone();
        run(busy, errors, async move { api::post::<Task>("/tasks", &body).await }, move |task| {
            navigate(&format!("/tasks/{}", task.id), Default::default())
        });
    };

    let param_field = move |p: Param| {
        let field = format!("args.{}", p.key);
        let (label, hint, secret) = match &p.alias {
            Some(a) => {
                let mut hint = a.description.trim().to_string();
                let stop = t_string!(i18n, tasks.submit.sentence_stop);
                if let Some(pat) = &a.pattern {
                    add_sentence(&mut hint, &fill(t_string!(i18n, tasks.submit.must_match), &[("pattern", pat)]), stop);
                }
                if a.secret && a.default.is_some() {
                    add_sentence(&mut hint, t_string!(i18n, tasks.submit.secret_default), stop);
                }
                (a.label.clone(), hint, a.secret)
            }
            None => (p.key.clone(), String::new(), false),
        };
        let label = if p.alias.as_ref().is_some_and(|a| a.required) { format!("{label} *") } else { label };
        match p.alias.as_ref().map(|a| a.param_type) {
            Some(ParamType::Enum) | Some(ParamType::Bool) => {
                let alias = p.alias.clone().unwrap_or_else(|| unreachable!());
                let choices = if alias.param_type == ParamType::Bool {
                    vec![
                        ("true".to_string(), t_string!(i18n, tasks.submit.bool_true).to_string()),
                        ("false".to_string(), t_string!(i18n, tasks.submit.bool_false).to_string()),
                    ]
                } else {
                    alias.choices.iter().map(|c| (c.clone(), c.clone())).collect()
                };
                let mut options = vec![(String::new(), t_string!(i18n, tasks.submit.default_option).to_string())];
                options.extend(choices);
                view! { <Select label=label value=p.value options=options errors=errors field=field /> }.into_any()
            }
            _ => view! {
                <Field label=label value=p.value errors=errors field=field hint=hint
                    kind=if secret { "password" } else { "text" } />
            }
            .into_any(),
        }
    };

    let group_field = move |g: Group| {
        let hosts = g.hosts;
        // Up to 20 registered hosts matching the name being typed (the last of the list),
        // leaving out those listed already.
        let chips = move || {
            let text = hosts.get();
            let listed = split_list(&text);
            let typing = if text.ends_with([',', ' ', '，', '、']) {
                String::new()
            } else {
                listed.last().cloned().unwrap_or_default()
            };
            let needle = typing.to_lowercase();
            known_hosts
                .get()
                .and_then(Result::ok)
                .unwrap_or_default()
                .into_iter()
                .filter(|h| !listed.contains(&h.name))
                .filter(|h| needle.is_empty() || h.name.to_lowercase().contains(&needle) || h.address.contains(&needle))
                .take(20)
                .map(|h| {
                    let name = h.name.clone();
                    let typing = typing.clone();
                    view! {
                        <button type="button" class="chip" title=h.address.clone()
                            on:click=move |_| hosts.update(|v| {
                                let mut list = split_list(v);
                                // The chip completes the name being typed, or adds one.
                                if !typing.is_empty() && list.last() == Some(&typing) {
                                    list.pop();
                                }
                                if !list.contains(&name) {
                                    list.push(name.clone());
                                }
                                *v = list.join(", ");
                            })>
                            {format!("+ {}", h.name)}
                        </button>
                    }
                })
                .collect_view()
        };
        // Names that are neither a registered host's name nor its address: sent as typed,
        // but most likely a typing mistake.
        let group = g.name.clone();
        let unknown = move || {
            let known = known_hosts.get().and_then(Result::ok)?;
            let strays: Vec<String> = split_list(&hosts.get())
                .into_iter()
                .filter(|n| !known.iter().any(|h| &h.name == n || &h.address == n))
                .collect();
            (!strays.is_empty()).then(|| {
                let text = fill(t_string!(i18n, tasks.submit.unregistered), &[("hosts", &strays.join(", "))]);
                view! { <p class="hint warn" data-testid=format!("unregistered-{group}")>{text}</p> }
            })
        };
        view! {
            <Field label=fill(t_string!(i18n, tasks.submit.hosts_for_group), &[("group", &g.name)]) value=hosts
                errors=errors field=format!("hosts.{}", g.name) testid=format!("hosts-{}", g.name)
                placeholder=t_string!(i18n, tasks.submit.hosts_placeholder) />
            {unknown}
            <div class="chips">{chips}</div>
        }
    };

    view! {
        <h1>{t!(i18n, tasks.submit.title)}</h1>
        {move || (!session.has(Role::Operator)).then(|| view! {
            <p class="form-error">{t!(i18n, tasks.submit.no_role)}</p>
        })}
        <form class="card form narrow" on:submit=submit>
            <Select label=t_string!(i18n, tasks.submit.template) value=template_id options=template_options
                errors=errors field="template_id" />
            {move || template.get().map(|t| view! {
                {(!t.description.is_empty()).then(|| view! { <p class="muted">{t.description.clone()}</p> })}
                <p class="muted small">
                    {fill(
                        t_string!(i18n, tasks.submit.template_summary),
                        &[("n", &number(t.steps.len() as i64)), ("groups", &t.groups.join(", "))],
                    )}
                </p>
            })}
            <Field label=t_string!(i18n, tasks.submit.task_name) value=name errors=errors field="name"
                placeholder=t_string!(i18n, tasks.submit.task_name_placeholder) />
            <fieldset>
                <legend>{t!(i18n, tasks.submit.parameters)}</legend>
                {move || {
                    let list = params.get();
                    if list.is_empty() {
                        view! { <p class="muted">{t!(i18n, tasks.submit.no_parameters)}</p> }.into_any()
                    } else {
                        list.into_iter().map(param_field).collect_view().into_any()
                    }
                }}
            </fieldset>
            <fieldset>
                <legend>{t!(i18n, tasks.submit.hosts)}</legend>
                {move || {
                    let list = groups.get();
                    if list.is_empty() {
                        view! { <p class="muted">{t!(i18n, tasks.submit.no_groups)}</p> }.into_any()
                    } else {
                        list.into_iter().map(group_field).collect_view().into_any()
                    }
                }}
            </fieldset>
            <fieldset>
                <legend>{t!(i18n, tasks.submit.when)}</legend>
                <Check label=t_string!(i18n, tasks.submit.needs_approval) value=needs_approval
                    disabled=Signal::derive(move || template.get().is_some_and(|t| t.require_approval)) />
                {move || template.get().filter(|t| t.require_approval).map(|_| view! {
                    <p class="hint">{t!(i18n, tasks.submit.always_approval)}</p>
                })}
                <Field label=t_string!(i18n, tasks.submit.exec_time) value=exec_time errors=errors field="exec_time"
                    kind="datetime-local" hint=t_string!(i18n, tasks.submit.exec_time_hint) />
                <Field label=t_string!(i18n, tasks.submit.details) value=details errors=errors field="details"
                    multiline=true />
                <Field label=t_string!(i18n, tasks.submit.notify_users) value=associated errors=errors
                    field="associated_users" />
            </fieldset>
            <FormErrors errors=errors />
            <div class="buttons">
                <button type="submit" class="primary" disabled=move || busy.get()>
                    {move || if busy.get() {
                        t_string!(i18n, tasks.submit.submitting)
                    } else {
                        t_string!(i18n, tasks.submit.submit)
                    }}
                </button>
            </div>
        </form>
    }
}
