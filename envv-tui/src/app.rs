//! The dashboard's state and everything that changes it: keys, the agent's
//! answers, its events and the clock. No I/O here: requests for the agent
//! go into an outbox and the clipboard into effects, which the main loop
//! carries out, so tests drive the same code with the same inputs.

use chrono::{DateTime, Utc};
use envv_api::{Role, UsageReport};
use proto_ipc::{
    AgentStatus, EnvRef, Event, InviteInfo, IpcError, MemberInfo, ReadPurpose, Request, Response,
    Secret, TeamInfo,
};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use uuid::Uuid;

use crate::audit::{AuditView, Row, parse_filter};
use crate::secrets::{Pane, SecretsView};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Screen {
    #[default]
    Secrets,
    Team,
    Audit,
    Plan,
}

impl Screen {
    pub const ALL: [Screen; 4] = [Screen::Secrets, Screen::Team, Screen::Audit, Screen::Plan];

    pub fn title(self) -> &'static str {
        match self {
            Screen::Secrets => "Secrets",
            Screen::Team => "Team",
            Screen::Audit => "Audit",
            Screen::Plan => "Plan",
        }
    }

    fn index(self) -> usize {
        Screen::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }
}

/// Data from the agent: asked for, arrived, or refused with a reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Loadable<T> {
    #[default]
    Loading,
    Ready(T),
    Failed(String),
}

/// What a reply answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tag {
    Status,
    Teams,
    Projects,
    Names(EnvRef),
    Reveal(EnvRef, String),
    Copy(EnvRef, String),
    Members(Uuid),
    Invites(Uuid),
    /// `head`: the newest page, for the live tail.
    Audit {
        generation: u64,
        head: bool,
    },
    Usage(Uuid),
    Unlock,
    Lock,
    /// An admin action; the text says what was done, for the message line.
    Admin(String),
    Invite(String),
    /// A member removed: what they could read is asked for next.
    Removed {
        team: Uuid,
        user: Uuid,
        email: String,
    },
    /// The exposure report of someone just removed.
    Exposure,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputKind {
    Search,
    AuditFilter,
    InviteEmail,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleFor {
    Invite(String),
    Member { user: Uuid, email: String },
}

pub const ROLES: [Role; 3] = [Role::Member, Role::Admin, Role::Owner];

#[derive(Debug)]
pub enum Popup {
    Help,
    Unlock {
        password: Secret,
    },
    Input {
        kind: InputKind,
        text: String,
        /// What the text was when the popup opened (esc restores a search).
        before: String,
    },
    Role {
        target: RoleFor,
        choice: usize,
    },
    Confirm {
        question: String,
        tag: Tag,
        request: Box<Request>,
    },
    /// Shown once, to hand over out of band.
    InviteCode {
        email: String,
        code: Secret,
        /// `c` put it on the clipboard.
        copied: bool,
    },
    /// After a removal: every secret the removed member could read.
    Exposure(proto_ipc::ExposureReport),
}

/// What the main loop does beyond talking to the agent.
#[derive(Debug)]
pub enum Effect {
    Copy(Secret),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Info,
    Error,
}

#[derive(Debug, Default)]
pub struct App {
    pub screen: Screen,
    pub status: Option<AgentStatus>,
    /// Why the agent can't be reached, while it can't.
    pub agent_error: Option<String>,
    pub teams: Loadable<Vec<TeamInfo>>,
    pub team: Option<Uuid>,
    pub secrets: SecretsView,
    pub members: Loadable<Vec<MemberInfo>>,
    /// The team's invites, asked for admins only.
    pub invites: Loadable<Vec<InviteInfo>>,
    /// The selected row of the Team screen: a member, or past the members
    /// an open invite.
    pub member_selected: usize,
    pub audit: AuditView,
    pub usage: Loadable<UsageReport>,
    pub popup: Option<Popup>,
    pub message: Option<(Tone, String)>,
    pub now: DateTime<Utc>,
    /// Shown as `~` in paths.
    pub home: Option<std::path::PathBuf>,
    /// Where the dashboard started: its project is listed first.
    here: Option<std::path::PathBuf>,
    pub quit: bool,
    /// Rows the audit list showed last frame: how far ahead to page.
    pub audit_height: usize,
    outbox: Vec<(Tag, Request)>,
    effects: Vec<Effect>,
    ticks: u64,
}

impl App {
    /// A dashboard starting on `team` (else the first team it finds), with
    /// the project around `here` first.
    pub fn new(team: Option<Uuid>, here: Option<std::path::PathBuf>, now: DateTime<Utc>) -> App {
        let mut app = App {
            team,
            now,
            here: here.clone(),
            audit_height: 20,
            ..App::default()
        };
        app.ask(Tag::Status, Request::Status);
        app.ask(Tag::Projects, Request::Projects { here });
        app.ask(Tag::Teams, Request::ListTeams);
        app
    }

    /// Requests for the agent since the last call.
    pub fn take_outbox(&mut self) -> Vec<(Tag, Request)> {
        std::mem::take(&mut self.outbox)
    }

    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    fn ask(&mut self, tag: Tag, request: Request) {
        self.outbox.push((tag, request));
    }

    fn info(&mut self, text: impl Into<String>) {
        self.message = Some((Tone::Info, text.into()));
    }

    fn error(&mut self, text: impl Into<String>) {
        self.message = Some((Tone::Error, text.into()));
    }

    pub fn locked(&self) -> bool {
        self.status.as_ref().is_some_and(|s| s.locked)
    }

    pub fn current_team(&self) -> Option<&TeamInfo> {
        match &self.teams {
            Loadable::Ready(teams) => teams.iter().find(|t| Some(t.id) == self.team),
            _ => None,
        }
    }

    /// Whether you may invite, change roles, remove others, rotate and
    /// admit in the current team.
    pub fn is_admin(&self) -> bool {
        self.current_team()
            .is_some_and(|t| matches!(t.role, Role::Admin | Role::Owner))
    }

    /// The current team's files still at an older key epoch than the
    /// team's: (project root, file name, epoch).
    pub fn old_epoch_files(&self) -> Vec<(std::path::PathBuf, String, u64)> {
        let (Some(team), Loadable::Ready(projects)) = (self.current_team(), &self.secrets.projects)
        else {
            return Vec::new();
        };
        let current = u64::from(team.current_epoch);
        projects
            .iter()
            .filter(|p| p.team == team.id)
            .flat_map(|p| {
                p.envs.iter().zip(&p.epochs).filter_map(|(env, epoch)| {
                    let epoch = (*epoch)?;
                    (epoch < current).then(|| {
                        let file = envv_core::project::env_file_name(env.as_deref());
                        (p.root.clone(), file, epoch)
                    })
                })
            })
            .collect()
    }

    pub fn my_id(&self) -> Option<Uuid> {
        self.status.as_ref()?.account.as_ref().map(|a| a.user_id)
    }

    /// The invites that can still admit someone, for the Team screen.
    pub fn open_invites(&self) -> Vec<&InviteInfo> {
        match &self.invites {
            Loadable::Ready(invites) => invites.iter().filter(|i| i.state == "open").collect(),
            _ => Vec::new(),
        }
    }

    /// Rows the Team screen can select: members, then (for admins) open
    /// invites.
    pub(crate) fn team_rows(&self) -> usize {
        let members = match &self.members {
            Loadable::Ready(members) => members.len(),
            _ => 0,
        };
        let invites = if self.is_admin() {
            self.open_invites().len()
        } else {
            0
        };
        members + invites
    }

    /// Whether the Team screen's selection is on an open invite.
    pub fn on_invite(&self) -> bool {
        let members = match &self.members {
            Loadable::Ready(members) => members.len(),
            _ => return false,
        };
        self.member_selected >= members && self.member_selected < self.team_rows()
    }

    fn clamp_team_selection(&mut self) {
        self.member_selected = self.member_selected.min(self.team_rows().saturating_sub(1));
    }

    /// A member's email by id, for the audit screen.
    pub fn email_of(&self, id: Uuid) -> Option<&str> {
        match &self.members {
            Loadable::Ready(members) => members
                .iter()
                .find(|m| m.user_id == id)
                .map(|m| m.email.as_str()),
            _ => None,
        }
    }

    /// Once a second.
    pub fn tick(&mut self, now: DateTime<Utc>) {
        self.now = now;
        self.ticks += 1;
        if self.ticks.is_multiple_of(2) {
            self.ask(Tag::Status, Request::Status);
        }
        if self.ticks.is_multiple_of(5) && self.screen == Screen::Audit && !self.locked() {
            self.refresh_audit_head();
        }
    }

    fn refresh_screen(&mut self) {
        match self.screen {
            Screen::Secrets => {
                let here = self.here.clone();
                self.ask(Tag::Projects, Request::Projects { here });
                self.load_names();
            }
            Screen::Team => self.load_team(),
            Screen::Audit => self.load_audit(),
            Screen::Plan => self.load_usage(),
        }
    }

    fn load_names(&mut self) {
        if let Some(at) = self.secrets.selected_env() {
            if self.secrets.names_of.as_ref() != Some(&at) {
                self.secrets.names = Loadable::Loading;
            }
            self.ask(Tag::Names(at.clone()), Request::Names { at });
        }
    }

    fn load_team(&mut self) {
        self.ask(Tag::Teams, Request::ListTeams);
        if let Some(team) = self.team {
            self.ask(Tag::Members(team), Request::Members { team });
            self.load_invites();
        }
    }

    /// Only admins see (and may revoke) invites.
    pub(crate) fn load_invites(&mut self) {
        if let Some(team) = self.team
            && self.is_admin()
        {
            self.ask(Tag::Invites(team), Request::Invites { team });
        }
    }

    fn load_audit(&mut self) {
        if let Some(team) = self.team {
            if !matches!(self.members, Loadable::Ready(_)) {
                self.ask(Tag::Members(team), Request::Members { team });
            }
            let filter = self.audit.restart();
            self.ask_audit(false, filter);
        }
    }

    fn refresh_audit_head(&mut self) {
        if self.audit.loaded {
            let filter = self.audit.head();
            self.ask_audit(true, filter);
        }
    }

    fn load_more_audit(&mut self) {
        if self.team.is_some()
            && let Some(filter) = self.audit.more(self.audit_height)
        {
            self.ask_audit(false, filter);
        }
    }

    /// A page of the current team's trail, tagged with the view's
    /// generation so answers to an older query are dropped.
    fn ask_audit(&mut self, head: bool, filter: proto_ipc::AuditFilter) {
        if let Some(team) = self.team {
            let generation = self.audit.generation;
            self.ask(
                Tag::Audit { generation, head },
                Request::Audit { team, filter },
            );
        }
    }

    fn load_usage(&mut self) {
        if let Some(team) = self.team {
            self.ask(Tag::Usage(team), Request::Usage { team });
        }
    }

    fn switch_to(&mut self, screen: Screen) {
        if self.screen != screen {
            self.screen = screen;
            self.hide_value();
            self.refresh_screen();
        }
    }

    /// Next team; every team screen reloads.
    fn next_team(&mut self) {
        let Loadable::Ready(teams) = &self.teams else {
            return;
        };
        if teams.is_empty() {
            return;
        }
        let at = teams.iter().position(|t| Some(t.id) == self.team);
        let next = teams[at.map_or(0, |i| (i + 1) % teams.len())].id;
        self.set_team(Some(next));
        self.refresh_screen();
    }

    /// Another team: what was loaded for the last one goes. The audit
    /// view's generation keeps counting, so a late page of the old team's
    /// trail is dropped.
    pub(crate) fn set_team(&mut self, team: Option<Uuid>) {
        self.team = team;
        self.members = Loadable::Loading;
        self.invites = Loadable::Loading;
        self.usage = Loadable::Loading;
        self.member_selected = 0;
        self.audit = AuditView {
            generation: self.audit.generation,
            ..AuditView::default()
        };
    }

    /// Forgets a revealed value and any reveal still on its way.
    pub(crate) fn hide_value(&mut self) {
        self.secrets.revealed = None;
        self.secrets.pending_reveal = None;
    }

    /// The agent is locked (an event, a status or an error said so).
    pub(crate) fn note_locked(&mut self) {
        if let Some(status) = self.status.as_mut() {
            status.locked = true;
        }
        self.hide_value();
    }

    pub fn on_event(&mut self, event: Event) {
        self.agent_error = None;
        match event {
            Event::Locked => self.note_locked(),
            Event::Unlocked => {
                if let Some(status) = self.status.as_mut() {
                    status.locked = false;
                }
                self.ask(Tag::Teams, Request::ListTeams);
                self.refresh_screen();
            }
            Event::Online => {
                if let Some(status) = self.status.as_mut() {
                    status.online = true;
                }
            }
            Event::Offline { .. } => {
                if let Some(status) = self.status.as_mut() {
                    status.online = false;
                }
            }
            Event::Audit {
                id,
                team,
                action,
                names,
                at,
            } => {
                if Some(team) != self.team {
                    return;
                }
                let summary = names.join(", ");
                self.audit.on_local(Row {
                    seq: None,
                    event_id: id,
                    at,
                    actor: self.my_id(),
                    actor_email: None,
                    action,
                    target: None,
                    details: serde_json::json!({ "secret_names": names }).to_string(),
                    summary,
                });
                if self.screen == Screen::Audit {
                    self.refresh_audit_head();
                }
            }
        }
    }

    pub fn on_stream_lost(&mut self, why: String) {
        self.agent_error = Some(why);
    }
}

mod keys;
mod replies;
