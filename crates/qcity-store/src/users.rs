//! Dashboard users (name, role, password hash as a PHC string) and their sessions (the hash
//! of the session id, never the id itself). The store keeps rows; the API decides what they
//! mean.

use rusqlite::{OptionalExtension, params};

use crate::db::Store;
use crate::error::{Context, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub name: String,
    pub role: String,
    /// The password hash, `$argon2id$…`.
    pub phc: String,
    pub created_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub id_hash: String,
    /// A user's name, or `master` for a session the master token opened.
    pub user: String,
    pub role: String,
    pub created_ms: i64,
    pub expires_ms: i64,
}

impl Store {
    /// Creates the user, or replaces its role and password.
    pub fn user_put(&mut self, u: &UserRow) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO users (name, role, phc, created_ms) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (name) DO UPDATE SET role = excluded.role, phc = excluded.phc",
                params![u.name, u.role, u.phc, u.created_ms],
            )
            .ctx("saving a user")?;
        Ok(())
    }

    pub fn user(&self, name: &str) -> Result<Option<UserRow>, StoreError> {
        self.conn
            .query_row(
                "SELECT name, role, phc, created_ms FROM users WHERE name = ?1",
                [name],
                read_user,
            )
            .optional()
            .ctx("reading a user")
    }

    pub fn users(&self) -> Result<Vec<UserRow>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT name, role, phc, created_ms FROM users ORDER BY name")
            .ctx("listing users")?;
        let rows = st.query_map([], read_user).ctx("listing users")?;
        rows.collect::<Result<_, _>>().ctx("listing users")
    }

    /// Deletes the user and its sessions; false when there was no such user.
    pub fn user_delete(&mut self, name: &str) -> Result<bool, StoreError> {
        let tx = self.conn.transaction().ctx("deleting a user")?;
        let n = tx
            .execute("DELETE FROM users WHERE name = ?1", [name])
            .ctx("deleting a user")?;
        tx.execute("DELETE FROM sessions WHERE user = ?1", [name])
            .ctx("deleting a user's sessions")?;
        tx.commit().ctx("deleting a user")?;
        Ok(n > 0)
    }

    pub fn session_put(&mut self, s: &SessionRow) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO sessions (id_hash, user, role, created_ms, expires_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![s.id_hash, s.user, s.role, s.created_ms, s.expires_ms],
            )
            .ctx("saving a session")?;
        Ok(())
    }

    /// Every session that has not expired at `now_ms` (expired ones are deleted).
    pub fn sessions_live(&mut self, now_ms: i64) -> Result<Vec<SessionRow>, StoreError> {
        self.conn
            .execute("DELETE FROM sessions WHERE expires_ms <= ?1", [now_ms])
            .ctx("deleting expired sessions")?;
        let mut st = self
            .conn
            .prepare("SELECT id_hash, user, role, created_ms, expires_ms FROM sessions")
            .ctx("listing sessions")?;
        let rows = st
            .query_map([], |r| {
                Ok(SessionRow {
                    id_hash: r.get(0)?,
                    user: r.get(1)?,
                    role: r.get(2)?,
                    created_ms: r.get(3)?,
                    expires_ms: r.get(4)?,
                })
            })
            .ctx("listing sessions")?;
        rows.collect::<Result<_, _>>().ctx("listing sessions")
    }

    pub fn session_delete(&mut self, id_hash: &str) -> Result<(), StoreError> {
        self.conn
            .execute("DELETE FROM sessions WHERE id_hash = ?1", [id_hash])
            .ctx("deleting a session")?;
        Ok(())
    }

    /// Deletes every session of `user`; returns how many there were.
    pub fn sessions_delete_user(&mut self, user: &str) -> Result<usize, StoreError> {
        self.conn
            .execute("DELETE FROM sessions WHERE user = ?1", [user])
            .ctx("deleting a user's sessions")
    }
}

fn read_user(r: &rusqlite::Row<'_>) -> rusqlite::Result<UserRow> {
    Ok(UserRow {
        name: r.get(0)?,
        role: r.get(1)?,
        phc: r.get(2)?,
        created_ms: r.get(3)?,
    })
}
