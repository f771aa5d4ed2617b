//! The agent's answers, by what they answer.

use super::*;

/// One line for the user; the agent's own messages already are.
fn sentence(e: &IpcError) -> String {
    match e {
        IpcError::AgentNotRunning { .. } => {
            "the agent is not running; start it with `envv agent start`".into()
        }
        IpcError::Locked => "the agent is locked; press u to unlock".into(),
        other => other.to_string(),
    }
}

impl App {
    pub fn on_reply(&mut self, tag: Tag, result: Result<Response, IpcError>) {
        let response = match result {
            Ok(response) => {
                self.agent_error = None;
                response
            }
            Err(e) => return self.on_failure(tag, &e),
        };
        match (tag, response) {
            (Tag::Status, Response::Status(status)) => {
                let locked = status.locked;
                self.status = Some(status);
                if locked {
                    self.hide_value();
                }
            }
            (Tag::Teams, Response::Teams { teams }) => {
                let known = self.team.is_some_and(|id| teams.iter().any(|t| t.id == id));
                let first = teams.first().map(|t| t.id);
                let was_admin = self.is_admin();
                self.teams = Loadable::Ready(teams);
                if !known {
                    self.set_team(first);
                    if self.team.is_some() && self.screen != Screen::Secrets {
                        self.refresh_screen();
                    }
                } else if self.screen == Screen::Team && !was_admin && self.is_admin() {
                    // The role became known (or grew) after the screen loaded.
                    self.load_invites();
                }
            }
            (Tag::Projects, Response::Projects { projects }) => {
                self.secrets.on_projects(projects);
                if self.secrets.names_of.is_none() || self.screen == Screen::Secrets {
                    self.load_names();
                }
            }
            (Tag::Names(at), Response::Names { names }) => {
                // A late answer for an environment no longer selected is dropped.
                if self.secrets.selected_env().as_ref() == Some(&at) {
                    self.secrets.on_names(at, names);
                }
            }
            (Tag::Reveal(at, name), Response::Secrets { mut secrets }) => {
                // Only the reveal still wanted: not one the user moved away
                // from, or one a lock overtook.
                let wanted = self.secrets.pending_reveal.take() == Some((at, name.clone()));
                if wanted && let Some((_, value)) = secrets.pop() {
                    self.secrets.revealed = Some((name, value));
                }
            }
            (Tag::Copy(_, name), Response::Secrets { mut secrets }) => {
                if let Some((_, value)) = secrets.pop() {
                    self.effects.push(Effect::Copy(value));
                    self.info(format!("copied {name} to the clipboard"));
                }
            }
            (Tag::Members(team), Response::Members { members, .. }) => {
                if Some(team) == self.team {
                    self.members = Loadable::Ready(members);
                    self.clamp_team_selection();
                }
            }
            (Tag::Invites(team), Response::Invites { invites }) => {
                if Some(team) == self.team {
                    self.invites = Loadable::Ready(invites);
                    self.clamp_team_selection();
                }
            }
            (
                Tag::Audit { generation, head },
                Response::AuditPage {
                    events,
                    next_cursor,
                },
            ) => {
                if generation != self.audit.generation {
                    return;
                }
                if head {
                    if self.audit.on_head(events) {
                        // More arrived than a page holds: start over rather
                        // than leave a gap.
                        self.load_audit();
                    }
                } else {
                    self.audit.on_page(events, next_cursor);
                    self.load_more_audit();
                }
            }
            (Tag::Usage(team), Response::Usage(report)) => {
                if Some(team) == self.team {
                    self.usage = Loadable::Ready(report);
                }
            }
            (Tag::Unlock, _) => {
                self.info("unlocked");
                self.ask(Tag::Status, Request::Status);
            }
            (Tag::Lock, _) => {
                self.note_locked();
                self.info("locked: keys and decrypted values are forgotten");
                self.ask(Tag::Status, Request::Status);
            }
            (Tag::Invite(email), Response::InviteCode { code, .. }) => {
                self.popup = Some(Popup::InviteCode {
                    email,
                    code,
                    copied: false,
                });
                self.load_team();
            }
            (Tag::Removed { team, user, email }, _) => {
                self.info(format!("removed {email}; rotate the team's key next"));
                self.load_team();
                let dirs = self.secrets.roots_of(team);
                self.ask(Tag::Exposure, Request::Exposure { team, user, dirs });
            }
            (Tag::Exposure, Response::Exposure(report)) => {
                self.popup = Some(Popup::Exposure(report));
            }
            (Tag::Admin(done), response) => {
                let text = match response {
                    Response::Rotated { epoch, files, .. } => {
                        format!("{done}: now epoch {epoch}, {files} files re-encrypted")
                    }
                    Response::Admitted { granted, refused } if refused.is_empty() => {
                        format!("{done}: {granted} granted")
                    }
                    Response::Admitted { granted, refused } => format!(
                        "{done}: {granted} granted; proof did not verify for {}",
                        refused.join(", ")
                    ),
                    _ => done,
                };
                self.info(text);
                self.load_team();
            }
            (tag, _) => self.error(format!("the agent gave an unexpected answer to {tag:?}")),
        }
    }

    fn on_failure(&mut self, tag: Tag, e: &IpcError) {
        let text = sentence(e);
        if matches!(e, IpcError::AgentNotRunning { .. } | IpcError::Frame(_)) {
            self.agent_error = Some(text.clone());
        }
        if matches!(e, IpcError::Locked) {
            self.note_locked();
        }
        match tag {
            Tag::Status => {}
            Tag::Teams => self.teams = Loadable::Failed(text),
            Tag::Projects => self.secrets.projects = Loadable::Failed(text),
            Tag::Names(_) => self.secrets.names = Loadable::Failed(text),
            Tag::Members(_) => self.members = Loadable::Failed(text),
            Tag::Invites(team) => {
                if Some(team) == self.team {
                    self.invites = Loadable::Failed(text);
                }
            }
            Tag::Audit { generation, head } => {
                if generation == self.audit.generation && !head {
                    self.audit.loading = false;
                    self.audit.error = Some(text);
                }
            }
            Tag::Reveal(..) => {
                self.secrets.pending_reveal = None;
                self.error(text);
            }
            Tag::Usage(_) => self.usage = Loadable::Failed(text),
            Tag::Unlock => {
                self.error(text);
                self.popup = Some(Popup::Unlock {
                    password: Secret::default(),
                });
            }
            Tag::Copy(..)
            | Tag::Lock
            | Tag::Admin(_)
            | Tag::Invite(_)
            | Tag::Removed { .. }
            | Tag::Exposure => self.error(text),
        }
    }
}
