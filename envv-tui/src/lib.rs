//! The envv terminal dashboard: secrets, team, audit and plan, drawn with
//! ratatui. It talks only to the agent, over the same socket protocol as
//! the CLI; the `envv-tui` program ([`program::main`]), which `envv ui` runs,
//! calls [`run`].
//!
//! [`app::App`] holds the state and changes it in answer to keys, the
//! agent's replies and events, and the clock; [`ui::draw`] draws it. Both
//! are free of I/O, so tests render any state to a test backend.

pub mod app;
pub mod audit;
mod link;
pub mod program;
pub mod secrets;
pub mod ui;

use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::{Duration, Instant};

use anyhow::Context;
use base64::Engine;
use proto_ipc::Secret;
use ratatui::DefaultTerminal;
use ratatui::crossterm::event::{self, KeyEventKind};
use uuid::Uuid;

use crate::app::{App, Effect};
use crate::link::{Link, Msg};

/// Where the dashboard finds the agent and what it opens on.
#[derive(Debug, Clone)]
pub struct Options {
    pub socket: PathBuf,
    /// The team to open on; else the first of the user's teams.
    pub team: Option<Uuid>,
    /// The directory it was started in: its project is listed first.
    pub here: Option<PathBuf>,
}

/// Runs the dashboard until the user quits; the terminal is restored on
/// the way out, on an error and on a panic.
pub fn run(options: Options) -> anyhow::Result<()> {
    let (tx, rx) = channel();
    let link = Link::start(&options.socket, tx.clone());
    let mut app = App::new(options.team, options.here, chrono::Utc::now());
    app.home = std::env::var_os("HOME").map(PathBuf::from);
    quit_on_signals(tx.clone())?;
    // Installs a panic hook that restores the terminal first.
    let mut terminal = match ratatui::try_init() {
        Ok(terminal) => terminal,
        Err(e) => {
            // Raw mode or the alternate screen may be on already.
            ratatui::restore();
            return Err(e).context("could not set up the terminal");
        }
    };
    std::thread::spawn(move || read_input(&tx));
    let result = event_loop(&mut terminal, &mut app, &link, &rx);
    ratatui::restore();
    result
}

/// A terminal closed or a `kill` ends the dashboard like `q` does, so the
/// terminal is restored.
fn quit_on_signals(out: Sender<Msg>) -> anyhow::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGHUP, SIGINT])
        .context("could not watch for signals")?;
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            let _ = out.send(Msg::Quit);
        }
    });
    Ok(())
}

/// Keys and resizes, from a thread of their own.
fn read_input(out: &Sender<Msg>) {
    loop {
        let msg = match event::read() {
            Ok(event::Event::Key(key)) if key.kind != KeyEventKind::Release => Msg::Key(key),
            Ok(event::Event::Resize(..)) => Msg::Resize,
            Ok(_) => continue,
            Err(_) => return,
        };
        if out.send(msg).is_err() {
            return;
        }
    }
}

const TICK: Duration = Duration::from_secs(1);

fn event_loop(
    terminal: &mut DefaultTerminal,
    app: &mut App,
    link: &Link,
    inbox: &Receiver<Msg>,
) -> anyhow::Result<()> {
    let mut next_tick = Instant::now() + TICK;
    loop {
        for (tag, request) in app.take_outbox() {
            link.send(tag, request);
        }
        for effect in app.take_effects() {
            match effect {
                Effect::Copy(value) => copy_to_clipboard(&value)?,
            }
        }
        terminal
            .draw(|frame| ui::draw(frame, app))
            .context("could not draw")?;
        if app.quit {
            return Ok(());
        }
        let wait = next_tick.saturating_duration_since(Instant::now());
        match inbox.recv_timeout(wait) {
            Ok(msg) => {
                dispatch(app, msg);
                // Draw once for a burst (a key held down, pages arriving).
                for msg in inbox.try_iter().take(256) {
                    dispatch(app, msg);
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                app.tick(chrono::Utc::now());
                next_tick = Instant::now() + TICK;
            }
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        }
    }
}

fn dispatch(app: &mut App, msg: Msg) {
    match msg {
        Msg::Key(key) => app.on_key(key),
        Msg::Resize => {}
        Msg::Reply(tag, result) => app.on_reply(tag, result),
        Msg::Event(event) => app.on_event(event),
        Msg::StreamLost(why) => app.on_stream_lost(why),
        Msg::Quit => app.quit = true,
    }
}

/// OSC 52: the terminal puts the text on the system clipboard (locally or
/// over ssh); a terminal without a clipboard ignores it.
fn copy_to_clipboard(value: &Secret) -> anyhow::Result<()> {
    let encoded = Secret::new(base64::engine::general_purpose::STANDARD.encode(value.expose()));
    let mut out = std::io::stdout().lock();
    // Written in pieces: no second, unzeroised copy of the encoded value.
    out.write_all(b"\x1b]52;c;")
        .and_then(|()| out.write_all(encoded.expose().as_bytes()))
        .and_then(|()| out.write_all(b"\x07"))
        .and_then(|()| out.flush())
        .context("could not write to the terminal")
}
