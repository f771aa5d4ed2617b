//! The operator's web console in process, on its own listener beside an
//! in-process API server, and a client that says exactly what it sends:
//! no redirects followed, no cookie jar.

use std::time::Duration;

use control_plane::console::{self, Console};
use envv_api::Plan;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, SET_COOKIE};
use tokio::sync::oneshot;
use uuid::Uuid;

use super::{Backend, TestServer};

/// The API server and, beside it on another port, its console.
pub struct ConsoleServer {
    pub api: TestServer,
    pub base: String,
    /// No redirects followed, no cookie jar: each test says what it sends.
    pub http: reqwest::Client,
    _stop: oneshot::Sender<()>,
}

impl ConsoleServer {
    pub async fn start(backend: Backend) -> ConsoleServer {
        Self::start_with(backend, |_| {}).await
    }

    pub async fn start_with(backend: Backend, tune: impl FnOnce(&mut Console)) -> ConsoleServer {
        let api = TestServer::start(backend).await;
        let mut console = Console::new(api.state.clone(), false);
        tune(&mut console);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(console::serve(listener, console, async {
            let _ = rx.await;
        }));
        ConsoleServer {
            api,
            base,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            _stop: tx,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// An operator token, as `admin token create` makes it.
    pub async fn token(&self, name: &str) -> String {
        let out = console::tokens::create(
            self.api.state.store.as_ref(),
            name,
            "test",
            control_plane::store::now(),
        )
        .await
        .unwrap();
        out.lines().next().unwrap().to_owned()
    }

    /// Logs in with `token`: the session cookie (`name=value`), if any.
    pub async fn login(&self, token: &str) -> (StatusCode, Option<String>) {
        let resp = self
            .http
            .post(self.url("/console/login"))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        let cookie = resp
            .headers()
            .get(SET_COOKIE)
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
        (resp.status(), cookie)
    }

    pub async fn session(&self, name: &str) -> Session {
        let token = self.token(name).await;
        let (status, cookie) = self.login(&token).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let cookie = cookie.expect("a session cookie");
        let page = self.get("/console/teams", Some(&cookie)).await.1;
        Session {
            cookie,
            csrf: csrf_in(&page).expect("the page's CSRF field"),
            token,
        }
    }

    pub async fn get(&self, path: &str, cookie: Option<&str>) -> (StatusCode, String) {
        let mut req = self.http.get(self.url(path));
        if let Some(cookie) = cookie {
            req = req.header(COOKIE, cookie);
        }
        let resp = req.send().await.unwrap();
        (resp.status(), resp.text().await.unwrap())
    }

    pub async fn post(
        &self,
        path: &str,
        cookie: Option<&str>,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> (StatusCode, String) {
        let mut req = self.http.post(self.url(path)).form(form);
        if let Some(cookie) = cookie {
            req = req.header(COOKIE, cookie);
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let resp = req.send().await.unwrap();
        (resp.status(), resp.text().await.unwrap())
    }

    pub async fn plan_of(&self, team: Uuid) -> Plan {
        let teams = self
            .api
            .state
            .store
            .team_summaries(control_plane::store::now())
            .await
            .unwrap();
        teams.iter().find(|t| t.id == team).unwrap().plan
    }
}

pub struct Session {
    pub cookie: String,
    pub csrf: String,
    pub token: String,
}

/// The value of the first `name="csrf"` hidden field of a page.
pub fn csrf_in(page: &str) -> Option<String> {
    let at = page.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    Some(page[at..].split('"').next()?.to_owned())
}
