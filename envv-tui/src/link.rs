//! The dashboard's two connections to the agent, each on its own thread:
//! one sends requests in order and hands back the answers, the other
//! listens to the agent's event stream. Both report into the one channel
//! the main loop reads, beside the keyboard.

use std::path::Path;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread;
use std::time::Duration;

use proto_ipc::{Client, Event, IpcError, Request, Response};

use crate::app::Tag;

/// What the main loop hears.
pub enum Msg {
    Key(ratatui::crossterm::event::KeyEvent),
    Resize,
    Reply(Tag, Result<Response, IpcError>),
    Event(Event),
    /// The event stream dropped (the agent stopped); it reconnects.
    StreamLost(String),
    /// SIGTERM, SIGHUP or SIGINT: leave, restoring the terminal.
    Quit,
}

fn client_name() -> String {
    format!("envv-tui {}", env!("CARGO_PKG_VERSION"))
}

/// Sends requests to the agent from a thread of its own.
pub struct Link {
    requests: Sender<(Tag, Request)>,
}

impl Link {
    /// Starts the request and event threads for the agent at `socket`.
    pub fn start(socket: &Path, out: Sender<Msg>) -> Link {
        let (requests, inbox) = channel();
        let path = socket.to_path_buf();
        let replies = out.clone();
        thread::spawn(move || serve_requests(&path, &inbox, &replies));
        let path = socket.to_path_buf();
        thread::spawn(move || listen(&path, &out));
        Link { requests }
    }

    pub fn send(&self, tag: Tag, request: Request) {
        // The thread only stops when the main loop has gone.
        let _ = self.requests.send((tag, request));
    }
}

/// One request at a time over one connection, reconnecting after an error
/// that may have broken it.
fn serve_requests(socket: &Path, inbox: &Receiver<(Tag, Request)>, out: &Sender<Msg>) {
    let mut client: Option<Client> = None;
    for (tag, request) in inbox {
        let result = match client.as_mut() {
            Some(c) => c.request(&request),
            None => Client::connect(socket, &client_name()).and_then(|mut c| {
                let result = c.request(&request);
                client = Some(c);
                result
            }),
        };
        if matches!(
            result,
            Err(IpcError::Frame(_) | IpcError::Malformed | IpcError::AgentNotRunning { .. })
        ) {
            client = None;
        }
        if out.send(Msg::Reply(tag, result)).is_err() {
            return;
        }
    }
}

/// The agent's event stream; after a drop, retries every second.
fn listen(socket: &Path, out: &Sender<Msg>) {
    loop {
        let why = match subscribe(socket) {
            Ok(mut client) => loop {
                match client.next_event() {
                    Ok(event) => {
                        if out.send(Msg::Event(event)).is_err() {
                            return;
                        }
                    }
                    Err(e) => break e.to_string(),
                }
            },
            Err(e) => e.to_string(),
        };
        if out.send(Msg::StreamLost(why)).is_err() {
            return;
        }
        thread::sleep(Duration::from_secs(1));
    }
}

fn subscribe(socket: &Path) -> Result<Client, IpcError> {
    let mut client = Client::connect(socket, &client_name())?;
    client.request(&Request::Subscribe)?;
    Ok(client)
}
