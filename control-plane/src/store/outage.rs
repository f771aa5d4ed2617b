//! Which database errors are an outage rather than a bug: the database out
//! of reach for a while (restarting, failing over, every connection busy)
//! or out of space. The API answers the first 503 with `Retry-After`, the
//! second 507, instead of a 500 that says nothing a client can act on.

use super::StoreError;

/// What a failed store call tells the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outage {
    /// Out of reach for now: retrying shortly can succeed.
    Unavailable,
    /// The database can't store more until its operator frees space; reads
    /// still work.
    StorageFull,
}

impl Outage {
    /// The outage `e` is, if any.
    pub fn of(e: &StoreError) -> Option<Outage> {
        match e {
            StoreError::Database(e) => of_sqlx(e),
            StoreError::Sqlite(e) => of_sqlite(e),
            StoreError::Migrate(sqlx::migrate::MigrateError::Execute(e)) => of_sqlx(e),
            _ => None,
        }
    }
}

fn of_sqlx(e: &sqlx::Error) -> Option<Outage> {
    match e {
        // Every connection busy for the whole acquire timeout, or none
        // could be opened in it (the database down or restarting).
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => Some(Outage::Unavailable),
        // The connection broke: the server restarted or the network failed.
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) => Some(Outage::Unavailable),
        sqlx::Error::Database(e) => {
            let code = e.code()?;
            if e.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                .is_some()
            {
                of_sqlstate(&code)
            } else {
                // SQLite's extended result code, in decimal.
                of_sqlite_code(code.parse().ok()?)
            }
        }
        _ => None,
    }
}

/// PostgreSQL's SQLSTATE codes.
fn of_sqlstate(code: &str) -> Option<Outage> {
    match code {
        // disk_full
        "53100" => Some(Outage::StorageFull),
        // too_many_connections, query_canceled (the statement timeout),
        // admin_shutdown, crash_shutdown, cannot_connect_now.
        "53300" | "57014" | "57P01" | "57P02" | "57P03" => Some(Outage::Unavailable),
        // Class 08: connection exception.
        _ if code.starts_with("08") => Some(Outage::Unavailable),
        _ => None,
    }
}

/// SQLite's result codes; the primary code is the extended code's low byte.
fn of_sqlite_code(code: i32) -> Option<Outage> {
    match code & 0xff {
        rusqlite::ffi::SQLITE_FULL => Some(Outage::StorageFull),
        rusqlite::ffi::SQLITE_BUSY | rusqlite::ffi::SQLITE_LOCKED => Some(Outage::Unavailable),
        _ => None,
    }
}

fn of_sqlite(e: &rusqlite::Error) -> Option<Outage> {
    use rusqlite::ErrorCode;
    match e.sqlite_error_code()? {
        ErrorCode::DiskFull => Some(Outage::StorageFull),
        ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => Some(Outage::Unavailable),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outages_are_told_from_bugs() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let cases = [
            (
                StoreError::Database(sqlx::Error::PoolTimedOut),
                Some(Outage::Unavailable),
            ),
            (
                StoreError::Database(sqlx::Error::Io(refused)),
                Some(Outage::Unavailable),
            ),
            (StoreError::Database(sqlx::Error::RowNotFound), None),
            (StoreError::NotFound, None),
        ];
        for (e, want) in cases {
            assert_eq!(Outage::of(&e), want, "{e:?}");
        }
        for (code, want) in [
            ("53100", Some(Outage::StorageFull)),
            ("53300", Some(Outage::Unavailable)),
            ("57P01", Some(Outage::Unavailable)),
            ("08006", Some(Outage::Unavailable)),
            ("57014", Some(Outage::Unavailable)),
            ("23505", None),
        ] {
            assert_eq!(of_sqlstate(code), want, "{code}");
        }
        for (code, want) in [
            (13, Some(Outage::StorageFull)),
            (5, Some(Outage::Unavailable)),
            // SQLITE_IOERR_WRITE, SQLITE_CONSTRAINT_UNIQUE
            (778, None),
            (2067, None),
        ] {
            assert_eq!(of_sqlite_code(code), want, "{code}");
        }
        let full = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            None,
        );
        assert_eq!(
            Outage::of(&StoreError::Sqlite(full)),
            Some(Outage::StorageFull)
        );
    }
}
