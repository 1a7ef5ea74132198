//! Users and sessions behave the same on SQLite and PostgreSQL, and never cross tenants.

use chrono::{Duration, Utc};
use veritrail_core::access::Role;
use veritrail_core::event::{TenantId, normalize_time};
use veritrail_core::users::{Session, User, UserError, session_token_hash};
use veritrail_store::testing::TestDatabase;

fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).expect("tenant")
}

fn user(tenant_name: &str, username: &str, role: Role) -> User {
    User {
        id: uuid::Uuid::now_v7().to_string(),
        tenant: tenant(tenant_name),
        username: username.to_owned(),
        role,
        disabled: false,
        created_at: normalize_time(Utc::now()),
    }
}

fn session(for_user: &User, token: &str) -> Session {
    let now = normalize_time(Utc::now());
    Session {
        token_hash: session_token_hash(token),
        tenant: for_user.tenant.clone(),
        user_id: for_user.id.clone(),
        csrf_token: format!("csrf-{token}"),
        created_at: now,
        last_seen_at: now,
        expires_at: now + Duration::hours(12),
    }
}

#[tokio::test]
async fn users_are_unique_per_tenant_and_never_seen_from_another() {
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        let users = store.users.as_ref();
        let alice = user("acme", "alice", Role::Analyst);
        assert!(users.create_first_user(&alice, "$argon2id$hash-a").await.expect("first"), "{:?}", db.backend);
        let other = user("acme", "bob", Role::Admin);
        assert!(!users.create_first_user(&other, "h").await.expect("second first"), "only when there is none");
        let duplicate = user("acme", "alice", Role::Viewer);
        assert!(matches!(users.create_user(&duplicate, "h").await, Err(UserError::Exists(name)) if name == "alice"));
        // The same name in another tenant is another user.
        let globex_alice = user("globex", "alice", Role::Viewer);
        users.create_user(&globex_alice, "$argon2id$hash-g").await.expect("other tenant");

        let (found, hash) = users.find_user(&tenant("acme"), "alice").await.expect("find").expect("alice");
        assert_eq!((found.clone(), hash.as_str()), (alice.clone(), "$argon2id$hash-a"), "{:?}", db.backend);
        assert_eq!(
            users.find_user(&tenant("globex"), "alice").await.expect("find").map(|(u, _)| u.role),
            Some(Role::Viewer)
        );
        assert!(users.get_user(&tenant("globex"), &alice.id).await.expect("get").is_none(), "wrong tenant");
        assert_eq!(users.list_users(Some(&tenant("acme"))).await.expect("list"), std::slice::from_ref(&alice));
        assert_eq!(users.list_users(None).await.expect("all").len(), 2);
        assert!(!users.set_disabled(&tenant("globex"), &alice.id, true).await.expect("wrong tenant"));
        assert!(!users.set_password(&tenant("globex"), &alice.id, "x").await.expect("wrong tenant"));
    }
}

#[tokio::test]
async fn sessions_end_with_logout_password_change_and_disabling() {
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        let users = store.users.as_ref();
        let alice = user("acme", "alice", Role::Auditor);
        users.create_user(&alice, "h1").await.expect("create");
        let first = session(&alice, "token-1");
        users.create_session(&first).await.expect("session");
        let (found, who) = users.find_session(&first.token_hash).await.expect("find").expect("session");
        assert_eq!((found.clone(), who.clone()), (first.clone(), alice.clone()), "{:?}", db.backend);
        let later = first.last_seen_at + Duration::minutes(5);
        users.touch_session(&first.token_hash, later).await.expect("touch");
        let (touched, _) = users.find_session(&first.token_hash).await.expect("find").expect("session");
        assert_eq!(touched.last_seen_at, later);
        assert!(users.find_session(&session_token_hash("unknown")).await.expect("find").is_none());

        users.delete_session(&first.token_hash).await.expect("logout");
        assert!(users.find_session(&first.token_hash).await.expect("find").is_none(), "logged out");

        let second = session(&alice, "token-2");
        users.create_session(&second).await.expect("session");
        assert!(users.set_password(&alice.tenant, &alice.id, "h2").await.expect("password"));
        assert!(users.find_session(&second.token_hash).await.expect("find").is_none(), "password change ends it");
        assert_eq!(users.find_user(&alice.tenant, "alice").await.expect("find").map(|(_, h)| h), Some("h2".into()));

        let third = session(&alice, "token-3");
        users.create_session(&third).await.expect("session");
        assert!(users.set_disabled(&alice.tenant, &alice.id, true).await.expect("disable"));
        assert!(users.find_session(&third.token_hash).await.expect("find").is_none(), "disabling ends it");
        assert!(users.get_user(&alice.tenant, &alice.id).await.expect("get").expect("user").disabled);
    }
}
