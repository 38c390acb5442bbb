//! Templates: the list, and the editor that adds, removes and reorders steps.

use api_types::{
    validate, Command, FieldError, OnFailure, Role, Step, StepInput, Strategy, Template, TemplateInput, Trigger,
};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};

use crate::api;
use crate::components::{loaded, plain_options, run, split_list, Check, Errors, Field, FormErrors, Select};
use crate::crud::{opt_int, opt_text, Browse};
use crate::i18n::*;
use crate::session::use_session;

/// Select options whose values are `words` (strategies, on-failure actions, triggers), each
/// shown in the reader's language.
fn options(i18n: leptos_i18n::I18nContext<Locale>, words: &[&str]) -> Vec<(String, String)> {
    let text = |word: &str| match word {
        "free" => t_string!(i18n, library.templates.strategy_free).to_string(),
        "lockstep" => t_string!(i18n, library.templates.strategy_lockstep).to_string(),
        "canary" => t_string!(i18n, library.templates.strategy_canary).to_string(),
        "stop" => t_string!(i18n, library.templates.on_failure_stop).to_string(),
        "continue" => t_string!(i18n, library.templates.on_failure_continue).to_string(),
        "auto" => t_string!(i18n, library.templates.trigger_auto).to_string(),
        "timed" => t_string!(i18n, library.templates.trigger_timed).to_string(),
        "manual" => t_string!(i18n, library.templates.trigger_manual).to_string(),
        other => other.to_string(),
    };
    plain_options(words).into_iter().map(|(value, word)| (value, text(&word))).collect()
}

#[component]
pub fn TemplateList() -> impl IntoView {
    let session = use_session();
    let i18n = use_i18n();
    let templates = LocalResource::new(|| api::get::<Vec<Template>>("/templates"));
    let browse = Browse::new();
    let matching = move |list: Vec<Template>| {
        browse.matching(
            list,
            |t| {
                let steps = t.steps.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(" ");
                format!("{} {} {steps}", t.name, t.description)
            },
            |t| t.name.clone(),
        )
    };
    let total = Signal::derive(move || templates.get().and_then(Result::ok).map_or(0, |l| matching(l).len() as i64));
    view! {
        <h1>{t!(i18n, library.templates.title)}</h1>
        <p class="muted">{t!(i18n, library.templates.intro)}</p>
        {move || session.has(Role::Admin).then(|| view! {
            <p><a class="button primary" href="/templates/new">{t!(i18n, library.templates.new_template)}</a></p>
        })}
        <div class="card">
            {browse.search_box()}
            {move || templates.get().and_then(Result::ok).is_some_and(|l| l.is_empty()).then(|| view! {
                <p class="muted" data-testid="empty">{t!(i18n, library.templates.none)}</p>
            })}
            {move || loaded(templates.get(), move |all: Vec<Template>| {
                if all.is_empty() {
                    return ().into_any(); // the empty state above says so
                }
                let list = match browse.page_of(matching(all)) {
                    Ok(rows) => rows,
                    Err(none) => return none,
                };
                view! {
                <table>
                    <thead><tr>
                        {browse.sort_header(t_string!(i18n, library.shared.name).to_string())}
                        <th>{t!(i18n, library.templates.steps)}</th>
                        <th>{t!(i18n, library.templates.groups)}</th>
                        <th>{t!(i18n, library.templates.parameters)}</th>
                        <th>{t!(i18n, library.templates.approval)}</th>
                        <th></th>
                    </tr></thead>
                    <tbody>
                        {list.into_iter().map(|t| view! {
                            <tr data-testid=format!("row-{}", t.name)>
                                <td><a href=format!("/templates/{}", t.id)><strong>{t.name.clone()}</strong></a><br />
                                    <span class="muted">{t.description.clone()}</span></td>
                                <td>{t.steps.iter().map(|s| s.name.clone()).collect::<Vec<_>>().join(" → ")}</td>
                                <td>{t.groups.join(", ")}</td>
                                <td>{t.params.join(", ")}</td>
                                <td>{if t.require_approval {
                                    t_string!(i18n, library.templates.approval_always)
                                } else {
                                    t_string!(i18n, library.templates.approval_when_asked)
                                }}</td>
                                <td class="actions"><a class="button" href=format!("/tasks/new?template={}", t.id)>
                                    {t!(i18n, library.templates.submit)}
                                </a>
                                {session.has(Role::Admin).then(|| view! {
                                    <a class="button" data-testid="copy-template" href=format!("/templates/new?copy={}", t.id)>
                                        {t!(i18n, library.templates.copy)}
                                    </a>
                                })}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
                }
                .into_any()
            })}
            {browse.pager(total)}
        </div>
    }
}

#[derive(Clone, Copy)]
struct StepForm {
    name: RwSignal<String>,
    group: RwSignal<String>,
    command: RwSignal<String>,
    script: RwSignal<String>,
    timeout: RwSignal<String>,
    retries: RwSignal<String>,
    on_failure: RwSignal<String>,
    trigger: RwSignal<String>,
}

impl StepForm {
    fn new(s: Option<&Step>) -> Self {
        let text = |f: fn(&Step) -> String, default: &str| RwSignal::new(s.map_or(default.to_string(), f));
        StepForm {
            name: text(|s| s.name.clone(), ""),
            group: text(|s| s.group.clone(), "1"),
            command: text(|s| s.command_id.map(|c| c.to_string()).unwrap_or_default(), ""),
            script: text(|s| s.script.clone().unwrap_or_default(), ""),
            timeout: text(|s| s.timeout_secs.map(|t| t.to_string()).unwrap_or_default(), ""),
            retries: text(|s| s.retries.to_string(), "0"),
            on_failure: text(
                |s| if s.on_failure == OnFailure::Continue { "continue".into() } else { "stop".into() },
                "stop",
            ),
            trigger: text(
                |s| match s.trigger {
                    Trigger::Auto => "auto".into(),
                    Trigger::Timed => "timed".into(),
                    Trigger::Manual => "manual".into(),
                },
                "auto",
            ),
        }
    }

    fn input(self, i: usize) -> Result<StepInput, FieldError> {
        let at = |e: FieldError| e.within(&format!("steps[{i}]"));
        let name = self.name.get_untracked().trim().to_string();
        if name.is_empty() {
            return Err(at(FieldError::new("name", td_string!(current(), library.templates.step_name_required))));
        }
        let group = self.group.get_untracked().trim().to_string();
        validate::group("group", &group).map_err(at)?;
        let command_id = opt_int("command_id", &self.command.get_untracked()).map_err(at)?;
        let script = opt_text(self.script.get_untracked()).filter(|_| command_id.is_none());
        if command_id.is_none() && script.is_none() {
            return Err(at(FieldError::new("script", td_string!(current(), library.templates.command_or_script))));
        }
        Ok(StepInput {
            name,
            group,
            command_id,
            script,
            timeout_secs: opt_int("timeout_secs", &self.timeout.get_untracked()).map_err(at)?,
            retries: opt_int("retries", &self.retries.get_untracked()).map_err(at)?,
            on_failure: Some(if self.on_failure.get_untracked() == "continue" {
                OnFailure::Continue
            } else {
                OnFailure::Stop
            }),
            trigger: Some(match self.trigger.get_untracked().as_str() {
                "timed" => Trigger::Timed,
                "manual" => Trigger::Manual,
                _ => Trigger::Auto,
            }),
        })
    }
}

#[component]
pub fn TemplateEditor() -> impl IntoView {
    let session = use_session();
    let i18n = use_i18n();
    let navigate = use_navigate();
    let params = use_params_map();
    let editing = params.with_untracked(|p| p.get("id").and_then(|s| s.parse::<i64>().ok()));
    // "Copy" (`/templates/new?copy=ID`): a new template that starts as a copy of another.
    let copying = if editing.is_none() {
        use_query_map().with_untracked(|q| q.get("copy").and_then(|s| s.parse::<i64>().ok()))
    } else {
        None
    };
    let commands = LocalResource::new(|| api::get::<Vec<Command>>("/commands"));

    let name = RwSignal::new(String::new());
    let description = RwSignal::new(String::new());
    let strategy = RwSignal::new("free".to_string());
    let canary = RwSignal::new("1".to_string());
    let require_approval = RwSignal::new(false);
    let approver_group = RwSignal::new(String::new());
    let approval_timeout = RwSignal::new(String::new());
    let extra_params = RwSignal::new(String::new());
    let raw_params = RwSignal::new(false);
    let steps = RwSignal::new(Vec::<StepForm>::new());
    let errors = Errors::new();
    let busy = RwSignal::new(false);
    let load_error = RwSignal::new(None::<String>);
    let confirm_delete = RwSignal::new(false);

    if let Some(id) = editing.or(copying) {
        leptos::task::spawn_local(async move {
            match api::get::<Template>(&format!("/templates/{id}")).await {
                Ok(t) => {
                    if copying.is_some() {
                        let l = crate::i18n::current();
                        name.set(fill(td_string!(l, library.templates.copy_name), &[("name", &t.name)]));
                    } else {
                        name.set(t.name);
                    }
                    description.set(t.description);
                    strategy.set(match t.strategy {
                        Strategy::Free => "free".into(),
                        Strategy::Lockstep => "lockstep".into(),
                        Strategy::Canary => "canary".into(),
                    });
                    canary.set(t.canary_size.to_string());
                    require_approval.set(t.require_approval);
                    approver_group.set(t.approver_group.unwrap_or_default());
                    approval_timeout.set(t.approval_timeout_secs.map(|s| s.to_string()).unwrap_or_default());
                    extra_params.set(t.extra_params.join(", "));
                    raw_params.set(t.raw_params);
                    steps.set(t.steps.iter().map(|s| StepForm::new(Some(s))).collect());
                }
                Err(e) => load_error.set(Some(e.message())),
            }
        });
    } else {
        steps.set(vec![StepForm::new(None)]);
    }

    let command_options = Signal::derive(move || {
        let mut o = vec![(String::new(), t_string!(i18n, library.templates.inline_script).to_string())];
        if let Some(Ok(list)) = commands.get() {
            o.extend(list.into_iter().map(|c| (c.id.to_string(), c.name)));
        }
        o
    });

    let save = {
        let navigate = navigate.clone();
        move |ev: SubmitEvent| {
            ev.prevent_default();
            let name_text = name.get_untracked();
            if let Err(e) = validate::name("name", &name_text) {
                return errors.local(e);
            }
            let list = steps.get_untracked();
            if list.is_empty() {
                return errors.local(FieldError::new("steps", td_string!(current(), library.templates.no_steps)));
            }
            let inputs: Result<Vec<_>, _> = list.iter().enumerate().map(|(i, s)| s.input(i)).collect();
            let inputs = match inputs.and_then(|steps| {
                Ok(TemplateInput {
                    name: name_text,
                    description: opt_text(description.get_untracked()),
                    approver_group: opt_text(approver_group.get_untracked()),
                    approval_timeout_secs: opt_int("approval_timeout_secs", &approval_timeout.get_untracked())?,
                    require_approval: Some(require_approval.get_untracked()),
                    extra_params: Some(split_list(&extra_params.get_untracked())),
                    raw_params: Some(raw_params.get_untracked()),
                    strategy: Some(match strategy.get_untracked().as_str() {
                        "lockstep" => Strategy::Lockstep,
                        "canary" => Strategy::Canary,
                        _ => Strategy::Free,
                    }),
                    canary_size: opt_int("canary_size", &canary.get_untracked())?,
                    steps,
                })
            }) {
                Ok(i) => i,
                Err(e) => return errors.local(e),
            };
            let navigate = navigate.clone();
            run(
                busy,
                errors,
                async move {
                    match editing {
                        Some(id) => api::put::<Template>(&format!("/templates/{id}"), &inputs).await,
                        None => api::post::<Template>("/templates", &inputs).await,
                    }
                },
                move |_| navigate("/templates", Default::default()),
            );
        }
    };
    let delete = move |_| {
        let Some(id) = editing else { return };
        let navigate = navigate.clone();
        run(busy, errors, async move { api::delete(&format!("/templates/{id}")).await }, move |_| {
            navigate("/templates", Default::default())
        });
    };

    let on_failure_options = options(i18n, &["stop", "continue"]);
    let trigger_options = options(i18n, &["auto", "timed", "manual"]);
    let strategy_options = options(i18n, &["free", "lockstep", "canary"]);
    // "local" is a value typed as it is, kept out of the catalogue text.
    let group_hint = fill(t_string!(i18n, library.templates.group_hint), &[("local", &"local")]);

    let step_view = move |(i, s): (usize, StepForm)| {
        let count = steps.with_untracked(Vec::len);
        let at = move |f: &str| format!("steps[{i}].{f}");
        let move_by = move |delta: isize| {
            steps.update(|list| {
                let j = i as isize + delta;
                if j >= 0 && (j as usize) < list.len() {
                    list.swap(i, j as usize);
                }
            })
        };
        let legend = fill(t_string!(i18n, library.templates.step_legend), &[("n", &(i + 1))]);
        view! {
            <fieldset class="step" data-testid=format!("step-{i}")>
                <legend>{legend}</legend>
                <div class="row">
                    <Field label=t_string!(i18n, library.templates.step_name) value=s.name errors=errors
                        field=at("name") />
                    <Field label=t_string!(i18n, library.templates.group) value=s.group errors=errors
                        field=at("group") hint=group_hint.clone() />
                </div>
                <Select label=t_string!(i18n, library.templates.command) value=s.command options=command_options
                    errors=errors field=at("command_id") />
                {move || s.command.get().is_empty().then(|| view! {
                    <Field label=t_string!(i18n, library.templates.script) value=s.script errors=errors
                        field=at("script") multiline=true />
                })}
                <div class="row">
                    <Field label=t_string!(i18n, library.shared.timeout_secs) value=s.timeout errors=errors
                        field=at("timeout_secs") kind="number"
                        placeholder=t_string!(i18n, library.templates.timeout_placeholder) />
                    <Field label=t_string!(i18n, library.templates.retries) value=s.retries errors=errors
                        field=at("retries") kind="number" />
                    <Select label=t_string!(i18n, library.templates.on_failure) value=s.on_failure
                        options=on_failure_options.clone() errors=errors field=at("on_failure") />
                    <Select label=t_string!(i18n, library.templates.trigger) value=s.trigger
                        options=trigger_options.clone() errors=errors field=at("trigger") />
                </div>
                <div class="buttons">
                    <button type="button" disabled=i == 0 on:click=move |_| move_by(-1)>
                        {t!(i18n, library.templates.move_up)}
                    </button>
                    <button type="button" disabled=i + 1 == count on:click=move |_| move_by(1)>
                        {t!(i18n, library.templates.move_down)}
                    </button>
                    <button type="button" class="danger" on:click=move |_| steps.update(|l| { l.remove(i); })>
                        {t!(i18n, library.templates.remove)}
                    </button>
                </div>
            </fieldset>
        }
    };

    view! {
        <h1>{if editing.is_some() {
            t_string!(i18n, library.templates.edit_template)
        } else {
            t_string!(i18n, library.templates.new_template)
        }}</h1>
        {move || load_error.get().map(|m| view! { <p class="form-error" role="alert">{m}</p> })}
        {move || (!session.has(Role::Admin)).then(|| view! {
            <p class="muted">{t!(i18n, library.templates.admins_only)}</p>
        })}
        {move || (editing.is_some() && session.has(Role::Admin)).then(|| view! {
            <p><a class="button" data-testid="copy-template"
                href=format!("/templates/new?copy={}", editing.unwrap_or_default())>
                {t!(i18n, library.templates.copy)}
            </a></p>
        })}
        // A template that cannot be read (gone, or never was) shows its error, no editor.
        <form class="card form narrow" on:submit=save class:hidden=move || load_error.get().is_some()>
            <Field label=t_string!(i18n, library.shared.name) value=name errors=errors field="name" />
            <Field label=t_string!(i18n, library.shared.description) value=description errors=errors
                field="description" />
            <div class="row">
                <Select label=t_string!(i18n, library.templates.strategy) value=strategy options=strategy_options
                    errors=errors field="strategy" />
                <Field label=t_string!(i18n, library.templates.canary_size) value=canary errors=errors
                    field="canary_size" kind="number" />
            </div>
            <Check label=t_string!(i18n, library.templates.require_approval) value=require_approval />
            <div class="row">
                <Field label=t_string!(i18n, library.templates.approver_group) value=approver_group errors=errors
                    field="approver_group" />
                <Field label=t_string!(i18n, library.templates.approval_timeout) value=approval_timeout
                    errors=errors field="approval_timeout_secs" kind="number" />
            </div>
            <Field label=t_string!(i18n, library.templates.extra_params) value=extra_params errors=errors
                field="extra_params" />
            <Check label=t_string!(i18n, library.templates.raw_params) value=raw_params />
            <h2>{t!(i18n, library.templates.steps)}</h2>
            {move || steps.get().into_iter().enumerate().map(step_view.clone()).collect_view()}
            <div class="buttons">
                <button type="button" on:click=move |_| steps.update(|l| l.push(StepForm::new(None)))>
                    {t!(i18n, library.templates.add_step)}
                </button>
            </div>
            <FormErrors errors=errors />
            <div class="buttons">
                <button type="submit" class="primary" disabled=move || busy.get()>
                    {move || if busy.get() {
                        t_string!(i18n, library.templates.saving)
                    } else {
                        t_string!(i18n, library.templates.save_template)
                    }}
                </button>
                {editing.map(|_| view! {
                    {move || if confirm_delete.get() {
                        view! {
                            <button type="button" class="danger" on:click=delete.clone()>
                                {t!(i18n, library.templates.yes_delete)}
                            </button>
                        }.into_any()
                    } else {
                        view! {
                            <button type="button" class="danger" on:click=move |_| confirm_delete.set(true)>
                                {t!(i18n, library.templates.delete)}
                            </button>
                        }.into_any()
                    }}
                })}
            </div>
        </form>
    }
}
