//! The keyboard: a popup takes keys first, then the screen, then the keys
//! every screen shares.

use super::*;

/// Arrows and vim keys as a step (or a page) up or down.
fn step(key: &KeyEvent, page: isize) -> Option<isize> {
    match key.code {
        KeyCode::Up | KeyCode::Char('k') => Some(-1),
        KeyCode::Down | KeyCode::Char('j') => Some(1),
        KeyCode::PageUp => Some(-page),
        KeyCode::PageDown => Some(page),
        KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => Some(-page / 2),
        KeyCode::Char('d') if key.modifiers.contains(KeyModifiers::CONTROL) => Some(page / 2),
        KeyCode::Home | KeyCode::Char('g') => Some(isize::MIN / 2),
        KeyCode::End | KeyCode::Char('G') => Some(isize::MAX / 2),
        _ => None,
    }
}

impl App {
    pub fn on_key(&mut self, key: KeyEvent) {
        if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
            self.quit = true;
            return;
        }
        if self.popup.is_some() {
            return self.on_popup_key(key);
        }
        self.message = None;
        // A screen's letters are plain keys: ctrl-r is not `r`.
        let plain = !key.modifiers.contains(KeyModifiers::CONTROL)
            || matches!(key.code, KeyCode::Char('u' | 'd'));
        if plain && self.on_screen_key(&key) {
            return;
        }
        match key.code {
            KeyCode::Char('q') | KeyCode::Esc => self.quit = true,
            KeyCode::Tab => {
                self.switch_to(Screen::ALL[(self.screen.index() + 1) % Screen::ALL.len()]);
            }
            KeyCode::BackTab => {
                self.switch_to(Screen::ALL[(self.screen.index() + 3) % Screen::ALL.len()]);
            }
            KeyCode::Char(c @ '1'..='4') => {
                self.switch_to(Screen::ALL[usize::from(c as u8 - b'1')]);
            }
            KeyCode::Char('?') => self.popup = Some(Popup::Help),
            KeyCode::Char('t') => self.next_team(),
            KeyCode::Char('u') => {
                if self.locked() {
                    self.popup = Some(Popup::Unlock {
                        password: Secret::default(),
                    });
                } else {
                    self.info("the agent is already unlocked");
                }
            }
            KeyCode::Char('L') => self.ask(Tag::Lock, Request::Lock),
            KeyCode::Char('r') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                self.ask(Tag::Status, Request::Status);
                self.refresh_screen();
            }
            _ => {}
        }
    }

    /// The focused screen's own keys; false when the key is not one.
    fn on_screen_key(&mut self, key: &KeyEvent) -> bool {
        match self.screen {
            Screen::Secrets => self.on_secrets_key(key),
            Screen::Team => self.on_team_key(key),
            Screen::Audit => self.on_audit_key(key),
            Screen::Plan => false,
        }
    }

    fn on_secrets_key(&mut self, key: &KeyEvent) -> bool {
        let s = &mut self.secrets;
        if let Some(delta) = step(key, 10) {
            if s.move_by(delta) {
                self.load_names();
            }
            return true;
        }
        match (key.code, s.focus) {
            (KeyCode::Right | KeyCode::Char('l') | KeyCode::Enter, Pane::Envs) => {
                s.focus = Pane::Names;
            }
            (KeyCode::Left | KeyCode::Char('h'), Pane::Names) => {
                s.focus = Pane::Envs;
                s.revealed = None;
            }
            (KeyCode::Enter | KeyCode::Char(' '), Pane::Names) => {
                if s.revealed.is_some() {
                    s.revealed = None;
                } else {
                    self.read_selected(Tag::Reveal);
                }
            }
            (KeyCode::Char('c'), Pane::Names) => self.read_selected(Tag::Copy),
            (KeyCode::Char('/'), _) => {
                s.focus = Pane::Names;
                self.popup = Some(Popup::Input {
                    kind: InputKind::Search,
                    text: s.search.clone(),
                    before: s.search.clone(),
                });
            }
            _ => return false,
        }
        true
    }

    /// Asks for the selected value, once; the agent audits the read.
    fn read_selected(&mut self, tag: fn(EnvRef, String) -> Tag) {
        let (Some(at), Some(name)) = (self.secrets.selected_env(), self.secrets.selected_name())
        else {
            return;
        };
        let tag = tag(at.clone(), name.clone());
        if matches!(tag, Tag::Reveal(..)) {
            self.secrets.pending_reveal = Some((at.clone(), name.clone()));
        }
        let request = Request::Read {
            at: at.clone(),
            only: vec![name.clone()],
            purpose: ReadPurpose::Get,
        };
        self.ask(tag, request);
    }

    fn on_team_key(&mut self, key: &KeyEvent) -> bool {
        let Loadable::Ready(members) = &self.members else {
            return false;
        };
        if let Some(delta) = step(key, 10) {
            let last = self.team_rows().saturating_sub(1);
            self.member_selected = self.member_selected.saturating_add_signed(delta).min(last);
            return true;
        }
        let Some(team) = self.current_team() else {
            return false;
        };
        let (team_id, team_name) = (team.id, team.name.clone());
        let member = members
            .get(self.member_selected)
            .map(|m| (m.user_id, m.email.clone(), m.role));
        // Past the members, the rows are the open invites.
        let invite = match member {
            Some(_) => None,
            None => self
                .open_invites()
                .get(self.member_selected - members.len())
                .map(|i| (i.id, i.email.clone(), i.role)),
        };
        let leaving = member.as_ref().is_some_and(|m| Some(m.0) == self.my_id());
        let admin_only = match key.code {
            KeyCode::Char('i' | 'r' | 'R' | 'a') => true,
            KeyCode::Char('x') | KeyCode::Delete => !leaving,
            _ => false,
        };
        if admin_only && !self.is_admin() {
            self.error(format!(
                "only the team's admins can do that; you are a {} of {team_name}",
                team.role
            ));
            return true;
        }
        match key.code {
            KeyCode::Char('i') => {
                self.popup = Some(Popup::Input {
                    kind: InputKind::InviteEmail,
                    text: String::new(),
                    before: String::new(),
                });
            }
            KeyCode::Char('r') => {
                let Some((user, email, role)) = member else {
                    self.error("an invite's role is fixed: revoke it (x) and invite again");
                    return true;
                };
                self.popup = Some(Popup::Role {
                    target: RoleFor::Member { user, email },
                    choice: ROLES.iter().position(|r| *r == role).unwrap_or(0),
                });
            }
            KeyCode::Char('x') | KeyCode::Delete => {
                if let Some((invite, email, role)) = invite {
                    self.popup = Some(Popup::Confirm {
                        question: format!(
                            "Revoke the invite for {email} ({role}) to {team_name}? Its code admits no one after this."
                        ),
                        tag: Tag::Admin(format!("revoked the invite for {email}")),
                        request: Box::new(Request::RevokeInvite {
                            team: team_id,
                            invite,
                        }),
                    });
                    return true;
                }
                let Some((user, email, _)) = member else {
                    return true;
                };
                self.popup = Some(Popup::Confirm {
                    question: if leaving {
                        format!("Leave {team_name}? Your access ends now.")
                    } else {
                        format!(
                            "Remove {email} from {team_name}? Their key fetches stop now; rotate afterwards."
                        )
                    },
                    tag: if leaving {
                        Tag::Admin(format!("removed {email}"))
                    } else {
                        Tag::Removed {
                            team: team_id,
                            user,
                            email: email.clone(),
                        }
                    },
                    request: Box::new(Request::RemoveMember {
                        team: team_id,
                        user,
                    }),
                });
            }
            KeyCode::Char('R') => {
                let dirs = self.secrets.roots_of(team_id);
                self.popup = Some(Popup::Confirm {
                    question: format!(
                        "Rotate {team_name}'s key and re-encrypt the .env*.enc files of {} project{} here?",
                        dirs.len(),
                        if dirs.len() == 1 { "" } else { "s" }
                    ),
                    tag: Tag::Admin(format!("rotated {team_name}")),
                    request: Box::new(Request::Rotate {
                        team: team_id,
                        dirs,
                    }),
                });
            }
            KeyCode::Char('a') => self.ask(
                Tag::Admin("admitted newcomers".into()),
                Request::AdmitPending { team: team_id },
            ),
            _ => return false,
        }
        true
    }

    fn on_audit_key(&mut self, key: &KeyEvent) -> bool {
        let page = self.audit_height.max(1) as isize;
        if let Some(delta) = step(key, page) {
            if delta == isize::MAX / 2 {
                self.audit.to_end();
            } else {
                self.audit.move_by(delta);
            }
            self.load_more_audit();
            return true;
        }
        match key.code {
            KeyCode::Char('/' | 'f') => {
                self.popup = Some(Popup::Input {
                    kind: InputKind::AuditFilter,
                    text: self.audit.filter_text.clone(),
                    before: self.audit.filter_text.clone(),
                });
            }
            KeyCode::Char('c') => {
                self.audit.filter = Default::default();
                self.audit.filter_text.clear();
                self.load_audit();
            }
            _ => return false,
        }
        true
    }

    fn on_popup_key(&mut self, key: KeyEvent) {
        let Some(popup) = self.popup.take() else {
            return;
        };
        let cancel = key.code == KeyCode::Esc;
        // Text is typed without control or alt (ctrl-u is not a `u`).
        let typed = match key.code {
            KeyCode::Char(c)
                if !key
                    .modifiers
                    .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
            {
                Some(c)
            }
            _ => None,
        };
        self.popup = match popup {
            Popup::Help => None,
            // Shown once: only a deliberate key closes it.
            Popup::InviteCode { .. } if cancel || key.code == KeyCode::Enter => None,
            Popup::InviteCode { email, code, .. } if typed == Some('c') => {
                // Through the terminal (OSC 52), like a secret's value;
                // never into the message line or a log.
                self.effects.push(Effect::Copy(code.clone()));
                Some(Popup::InviteCode {
                    email,
                    code,
                    copied: true,
                })
            }
            popup @ Popup::InviteCode { .. } => Some(popup),
            Popup::Exposure(_) if cancel || key.code == KeyCode::Enter => None,
            Popup::Exposure(report) => Some(Popup::Exposure(report)),
            Popup::Input {
                kind: InputKind::Search,
                before,
                ..
            } if cancel => {
                // Esc puts the search back as it was.
                self.live_search(&InputKind::Search, &before);
                None
            }
            _ if cancel => None,
            Popup::Unlock { password } => match key.code {
                KeyCode::Enter => {
                    self.ask(
                        Tag::Unlock,
                        Request::Unlock {
                            password: Some(password),
                        },
                    );
                    None
                }
                KeyCode::Backspace => {
                    let mut text = password.expose().chars();
                    text.next_back();
                    Some(Popup::Unlock {
                        password: Secret::new(text.as_str()),
                    })
                }
                _ if typed.is_some() => {
                    // Sized once, so no copy of the password is left behind
                    // in a freed buffer as it grows.
                    let old = password.expose();
                    let mut text = String::with_capacity(old.len() + 4);
                    text.push_str(old);
                    text.extend(typed);
                    Some(Popup::Unlock {
                        password: Secret::new(text),
                    })
                }
                _ => Some(Popup::Unlock { password }),
            },
            Popup::Input {
                kind,
                mut text,
                before,
            } => match key.code {
                KeyCode::Enter => {
                    self.submit(kind, text, before);
                    return;
                }
                KeyCode::Backspace => {
                    text.pop();
                    self.live_search(&kind, &text);
                    Some(Popup::Input { kind, text, before })
                }
                _ if typed.is_some() => {
                    text.extend(typed);
                    self.live_search(&kind, &text);
                    Some(Popup::Input { kind, text, before })
                }
                _ => Some(Popup::Input { kind, text, before }),
            },
            Popup::Role { target, choice } => match key.code {
                KeyCode::Up | KeyCode::Char('k') => Some(Popup::Role {
                    target,
                    choice: choice.saturating_sub(1),
                }),
                KeyCode::Down | KeyCode::Char('j') => Some(Popup::Role {
                    target,
                    choice: (choice + 1).min(ROLES.len() - 1),
                }),
                KeyCode::Enter => self.confirm_role(target, ROLES[choice]),
                _ => Some(Popup::Role { target, choice }),
            },
            Popup::Confirm {
                question,
                tag,
                request,
            } => match key.code {
                KeyCode::Char('y' | 'Y') | KeyCode::Enter => {
                    self.ask(tag, *request);
                    None
                }
                KeyCode::Char('n' | 'N') => None,
                _ => Some(Popup::Confirm {
                    question,
                    tag,
                    request,
                }),
            },
        };
    }

    /// The search narrows the names as it is typed.
    fn live_search(&mut self, kind: &InputKind, text: &str) {
        if *kind == InputKind::Search {
            text.clone_into(&mut self.secrets.search);
            self.secrets.name_selected = 0;
            self.secrets.revealed = None;
        }
    }

    fn submit(&mut self, kind: InputKind, text: String, before: String) {
        match kind {
            InputKind::Search => self.live_search(&kind, &text),
            InputKind::AuditFilter => {
                let parsed = parse_filter(&text, self.now, |email| {
                    let member = match &self.members {
                        Loadable::Ready(members) => members
                            .iter()
                            .find(|m| m.email.eq_ignore_ascii_case(email))
                            .map(|m| m.user_id),
                        _ => None,
                    };
                    // A former member, as the trail loaded so far names them.
                    member.or_else(|| self.audit.actor_by_email(email))
                });
                match parsed {
                    Ok(filter) => {
                        self.audit.filter = filter;
                        self.audit.filter_text = text;
                        self.load_audit();
                    }
                    Err(why) => {
                        self.error(why);
                        self.popup = Some(Popup::Input { kind, text, before });
                    }
                }
            }
            InputKind::InviteEmail => {
                let email = text.trim().to_owned();
                if email.contains('@') {
                    self.popup = Some(Popup::Role {
                        target: RoleFor::Invite(email),
                        choice: 0,
                    });
                } else {
                    self.error("that is not an email address");
                    self.popup = Some(Popup::Input { kind, text, before });
                }
            }
        }
    }

    fn confirm_role(&mut self, target: RoleFor, role: Role) -> Option<Popup> {
        let team = self.current_team()?;
        let (team_id, team_name) = (team.id, team.name.clone());
        Some(match target {
            RoleFor::Invite(email) => Popup::Confirm {
                question: format!("Invite {email} to {team_name} as {role}?"),
                tag: Tag::Invite(email.clone()),
                request: Box::new(Request::Invite {
                    team: team_id,
                    email,
                    role,
                }),
            },
            RoleFor::Member { user, email } => Popup::Confirm {
                question: format!("Make {email} {role} of {team_name}?"),
                tag: Tag::Admin(format!("{email} is now {role}")),
                request: Box::new(Request::SetRole {
                    team: team_id,
                    user,
                    role,
                }),
            },
        })
    }
}
