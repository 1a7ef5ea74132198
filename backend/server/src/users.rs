//! Dashboard user commands (`veritrail users ...`) and the first-start admin user.

use std::io::{BufRead, IsTerminal};

use anyhow::Context;
use chrono::Utc;
use veritrail_core::access::Role;
use veritrail_core::event::{TenantId, normalize_time};
use veritrail_core::users::{User, check_password, check_username, hash_password};
use veritrail_store::Store;

use crate::keys::DEFAULT_TENANT;

/// The first admin user's name.
pub const BOOTSTRAP_USER: &str = "admin";

fn new_user(tenant: TenantId, username: &str, role: Role) -> User {
    User {
        id: uuid::Uuid::now_v7().to_string(),
        tenant,
        username: username.to_owned(),
        role,
        disabled: false,
        created_at: normalize_time(Utc::now()),
    }
}

/// A random password for the first admin: 20 characters from a 56-letter alphabet without
/// look-alikes (about 116 bits).
fn generate_password() -> anyhow::Result<String> {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 20];
    getrandom::fill(&mut bytes).map_err(|err| anyhow::anyhow!("no randomness available: {err}"))?;
    // 256 is not a multiple of 56: the first 32 letters are 1/256 likelier, a negligible bias
    // for a one-time password that is changed after first use.
    Ok(bytes.iter().map(|byte| char::from(ALPHABET[usize::from(*byte) % ALPHABET.len()])).collect())
}

/// On a database without users, creates `admin` of tenant `default` with `configured` as its
/// password (`VERITRAIL_BOOTSTRAP_PASSWORD`), or a generated one printed once. Safe when several
/// servers start together: exactly one user is created. [`Application::build`] has checked the
/// password's strength (`crate::strength`).
///
/// [`Application::build`]: crate::app::Application::build
pub async fn bootstrap(store: &Store, configured: Option<String>) -> anyhow::Result<()> {
    let configured = configured.filter(|password| !password.is_empty());
    let password = match &configured {
        Some(password) => password.clone(),
        None => generate_password()?,
    };
    let tenant = TenantId::parse(DEFAULT_TENANT).map_err(anyhow::Error::msg)?;
    let user = new_user(tenant, BOOTSTRAP_USER, Role::Admin);
    let hash = hash_password(&password).map_err(anyhow::Error::msg)?;
    if !store.users.create_first_user(&user, &hash).await.context("store the first user")? {
        return Ok(());
    }
    if configured.is_some() {
        tracing::info!("created admin user \"admin\" of tenant default from VERITRAIL_BOOTSTRAP_PASSWORD");
    } else {
        // Printed, not logged: logs are often shipped elsewhere, and the password must be seen once.
        println!(
            "\nveritrail: created the dashboard's first user: tenant \"default\", user \"admin\".\n\
             Its password is shown only this once; sign in and store it now:\n\n    {password}\n"
        );
    }
    Ok(())
}

/// Reads a new password: from standard input when it is not a terminal (scripts), otherwise
/// asked twice without echo.
pub fn read_password() -> anyhow::Result<String> {
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("New password: ").context("read the password")?;
        let again = rpassword::prompt_password("Again: ").context("read the password")?;
        anyhow::ensure!(first == again, "the two passwords differ");
        first
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).context("read the password from standard input")?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    check_password(&password).map_err(anyhow::Error::msg)?;
    Ok(password)
}

/// `veritrail users create`.
pub async fn create(
    store: &Store,
    tenant: TenantId,
    username: &str,
    role: Role,
    password: &str,
) -> anyhow::Result<User> {
    check_username(username).map_err(anyhow::Error::msg)?;
    let user = new_user(tenant, username, role);
    let hash = hash_password(password).map_err(anyhow::Error::msg)?;
    store.users.create_user(&user, &hash).await?;
    Ok(user)
}

/// Finds a user by name, for the commands that change one.
pub async fn find(store: &Store, tenant: &TenantId, username: &str) -> anyhow::Result<User> {
    store
        .users
        .find_user(tenant, username)
        .await?
        .map(|(user, _)| user)
        .with_context(|| format!("tenant {tenant} has no user {username:?}"))
}
