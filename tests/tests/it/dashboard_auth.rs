//! Staff sign-in: password, first-time password change, TOTP enrollment, second factor,
//! recovery codes, lockout, rate limiting, session cycling, sign-out, and the role and CSRF
//! guards on every state-changing route.

use domain::config::Config;
use domain::staff::Role;
use reauth_tests::staff::{self, StaffClient, csrf_in, get, post};
use reauth_tests::{TestApp, TestDb, both_backends, http_client};
use sea_orm::{EntityTrait, PaginatorTrait};

pub(crate) fn config() -> Config {
    let mut c = Config::default();
    c.crypto.keys = vec![domain::security::crypto::Sealer::generate_key("k1")];
    c
}

async fn events_of(db: &TestDb, kind: &str) -> u64 {
    use sea_orm::{ColumnTrait, QueryFilter};
    domain::entity::event::Entity::find()
        .filter(domain::entity::event::Column::Kind.eq(kind))
        .count(&db.db)
        .await
        .unwrap()
}

async fn first_sign_in_then_totp_every_time(db: TestDb) {
    let app = TestApp::spawn(&db, config()).await;
    // Signed out: every page leads to the sign-in page, keeping where you were going.
    let (s, loc, _) = get(&http_client(), &format!("{}/orgs?state=pending", app.base)).await;
    assert_eq!(s, 303);
    assert_eq!(
        loc.as_deref(),
        Some("/login?next=%2Forgs%3Fstate%3Dpending")
    );

    let first = staff::first_sign_in(&app, "ana@partner.example", Role::Operator).await;
    let (s, _, home) = first.get("/").await;
    assert_eq!(s, 200);
    assert!(home.contains("ana@partner.example · operator"), "{home}");
    assert_eq!(events_of(&db, "staff.totp_enrolled").await, 1);

    // A later sign-in needs the password and a TOTP code.
    let again = staff::sign_in(&app, &first).await;
    assert_eq!(again.get("/").await.0, 200);

    // The password alone does not sign in.
    let c = http_client();
    let (_, _, login) = get(&c, &format!("{}/login", app.base)).await;
    post(
        &c,
        &format!("{}/login", app.base),
        &[
            ("csrf", &csrf_in(&login)),
            ("email", "ana@partner.example"),
            ("password", staff::PASSWORD),
        ],
    )
    .await;
    let (s, loc, _) = get(&c, &format!("{}/orgs", app.base)).await;
    assert_eq!((s, loc.as_deref()), (303, Some("/login?next=%2Forgs")));

    // A code that was already used is refused, even within its 30 seconds.
    let (_, _, page) = get(&c, &format!("{}/login/second-factor", app.base)).await;
    let used = staff::code(&app, &first.totp_secret);
    let (s, _, body) = post(
        &c,
        &format!("{}/login/second-factor", app.base),
        &[("csrf", &csrf_in(&page)), ("code", &used)],
    )
    .await;
    assert_eq!(s, 401, "a replayed code must fail: {body}");
    assert!(body.contains("each works once"));

    // A recovery code works once.
    let rc = first.recovery_codes[0].clone();
    let (s, loc, _) = post(
        &c,
        &format!("{}/login/second-factor", app.base),
        &[("csrf", &csrf_in(&page)), ("recovery_code", &rc)],
    )
    .await;
    assert_eq!((s, loc.as_deref()), (303, Some("/")));
    assert_eq!(get(&c, &format!("{}/orgs", app.base)).await.0, 200);
    let c2 = http_client();
    let (_, _, login) = get(&c2, &format!("{}/login", app.base)).await;
    post(
        &c2,
        &format!("{}/login", app.base),
        &[
            ("csrf", &csrf_in(&login)),
            ("email", "ana@partner.example"),
            ("password", staff::PASSWORD),
        ],
    )
    .await;
    let (_, _, page) = get(&c2, &format!("{}/login/second-factor", app.base)).await;
    let (s, _, _) = post(
        &c2,
        &format!("{}/login/second-factor", app.base),
        &[("csrf", &csrf_in(&page)), ("recovery_code", &rc)],
    )
    .await;
    assert_eq!(s, 401, "a recovery code works only once");

    // Sign-out ends the session.
    let (s, loc, _) = again.post("/logout", &[]).await;
    assert_eq!((s, loc.as_deref()), (303, Some("/login")));
    assert_eq!(again.get("/orgs").await.0, 303);
    assert_eq!(events_of(&db, "staff.signed_out").await, 1);
    // Secrets never reach the audit trail.
    let all = domain::events::list(
        &db.db,
        &domain::events::EventFilter {
            limit: 1000,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let text = serde_json::to_string(&all).unwrap();
    assert!(!text.contains(&first.totp_secret));
    assert!(!text.contains(staff::PASSWORD));
    assert!(!text.contains(&first.recovery_codes[1]));
}
both_backends!(
    first_sign_in_enrolls_totp_and_every_sign_in_needs_a_code,
    first_sign_in_then_totp_every_time
);

async fn cookie(client_resp: &reqwest::Response) -> Option<String> {
    client_resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("reauth_session="))
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn the_session_id_changes_at_each_sign_in_step() {
    let db = TestDb::sqlite().await;
    let app = TestApp::spawn(&db, config()).await;
    let otp = staff::add(&app, "bo@partner.example", Role::Viewer).await;
    let c = http_client();
    let r = c.get(format!("{}/login", app.base)).send().await.unwrap();
    let before = cookie(&r).await.expect("a session cookie before sign-in");
    let page = r.text().await.unwrap();
    let r = c
        .post(format!("{}/login", app.base))
        .form(&[
            ("csrf", csrf_in(&page).as_str()),
            ("email", "bo@partner.example"),
            ("password", otp.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let after = cookie(&r).await.expect("a new cookie after the password");
    assert_ne!(before, after, "the session id must be cycled at sign-in");
    let set = r
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(set.contains("HttpOnly"), "{set}");
    assert!(set.contains("SameSite=Lax"), "{set}");
    // Dashboard pages carry the security headers.
    let r = c.get(format!("{}/login", app.base)).send().await.unwrap();
    let h = r.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "no-referrer");
}

async fn lockout_after_five_failures(db: TestDb) {
    let app = TestApp::spawn(&db, config()).await;
    let who = staff::first_sign_in(&app, "cy@partner.example", Role::Admin).await;
    let c = http_client();
    let (_, _, login) = get(&c, &format!("{}/login", app.base)).await;
    let csrf = csrf_in(&login);
    for _ in 0..domain::staff::MAX_FAILED_ATTEMPTS {
        let (s, _, body) = post(
            &c,
            &format!("{}/login", app.base),
            &[
                ("csrf", &csrf),
                ("email", "cy@partner.example"),
                ("password", "wrong password!"),
            ],
        )
        .await;
        assert_eq!(s, 401);
        assert!(body.contains("do not match"));
    }
    // Now even the right password is refused, with a clear reason.
    let (s, _, body) = post(
        &c,
        &format!("{}/login", app.base),
        &[
            ("csrf", &csrf),
            ("email", "cy@partner.example"),
            ("password", staff::PASSWORD),
        ],
    )
    .await;
    assert_eq!(s, 401);
    assert!(body.contains("locked"), "{body}");
    assert_eq!(events_of(&db, "staff.locked").await, 1);
    // An unknown email gets the same answer as a wrong password.
    let (s, _, body) = post(
        &c,
        &format!("{}/login", app.base),
        &[
            ("csrf", &csrf),
            ("email", "nobody@partner.example"),
            ("password", "whatever it is"),
        ],
    )
    .await;
    assert_eq!(s, 401);
    assert!(body.contains("do not match"));
    // After the lockout the account works again.
    app.state
        .clock
        .advance(std::time::Duration::from_secs(16 * 60));
    let back = staff::sign_in(&app, &who).await;
    assert_eq!(back.get("/").await.0, 200);
}
both_backends!(
    five_failures_lock_the_account_for_a_while,
    lockout_after_five_failures
);

#[tokio::test]
async fn wrong_second_factor_codes_also_lock_the_account() {
    let db = TestDb::sqlite().await;
    let app = TestApp::spawn(&db, config()).await;
    let who = staff::first_sign_in(&app, "di@partner.example", Role::Viewer).await;
    let c = http_client();
    let (_, _, login) = get(&c, &format!("{}/login", app.base)).await;
    post(
        &c,
        &format!("{}/login", app.base),
        &[
            ("csrf", &csrf_in(&login)),
            ("email", &who.email),
            ("password", staff::PASSWORD),
        ],
    )
    .await;
    let (_, _, page) = get(&c, &format!("{}/login/second-factor", app.base)).await;
    let csrf = csrf_in(&page);
    let mut last = (0, String::new());
    for _ in 0..domain::staff::MAX_FAILED_ATTEMPTS {
        let (s, _, body) = post(
            &c,
            &format!("{}/login/second-factor", app.base),
            &[("csrf", &csrf), ("code", "000000")],
        )
        .await;
        last = (s, body);
    }
    assert_eq!(last.0, 403, "{}", last.1);
    assert!(last.1.contains("locked"));
}

#[tokio::test]
async fn sign_in_attempts_are_rate_limited_per_address() {
    let db = TestDb::sqlite().await;
    let app = TestApp::spawn(&db, config()).await;
    let c = http_client();
    let (_, _, login) = get(&c, &format!("{}/login", app.base)).await;
    let csrf = csrf_in(&login);
    // All at once, so the quota (30 a minute, refilled gradually) cannot refill in between.
    let attempts = (0..32).map(|i| {
        let (c, base, csrf) = (c.clone(), app.base.clone(), csrf.clone());
        async move {
            let email = format!("guess{i}@partner.example");
            post(
                &c,
                &format!("{base}/login"),
                &[
                    ("csrf", &csrf),
                    ("email", &email),
                    ("password", "not it at all"),
                ],
            )
            .await
            .0
        }
    });
    let statuses = futures::future::join_all(attempts).await;
    let refused = statuses.iter().filter(|s| **s == 429).count();
    let rejected = statuses.iter().filter(|s| **s == 401).count();
    assert_eq!((rejected, refused), (30, 2), "{statuses:?}");
}

#[tokio::test]
async fn a_disabled_user_is_signed_out_at_once() {
    let db = TestDb::sqlite().await;
    let app = TestApp::spawn(&db, config()).await;
    let admin = staff::first_sign_in(&app, "admin@partner.example", Role::Admin).await;
    let viewer = staff::first_sign_in(&app, "vi@partner.example", Role::Viewer).await;
    assert_eq!(viewer.get("/orgs").await.0, 200);
    let id = domain::staff::find_by_email(&db.db, "vi@partner.example")
        .await
        .unwrap()
        .unwrap()
        .id;
    let (s, _, _) = admin
        .post(&format!("/admin/staff/{id}"), &[("change", "disable")])
        .await;
    assert_eq!(s, 303);
    assert_eq!(viewer.get("/orgs").await.0, 303);
    // An admin cannot lock themself out.
    let me = domain::staff::find_by_email(&db.db, "admin@partner.example")
        .await
        .unwrap()
        .unwrap()
        .id;
    let (s, _, body) = admin
        .post(&format!("/admin/staff/{me}"), &[("change", "disable")])
        .await;
    assert_eq!(s, 400);
    assert!(body.contains("cannot disable or demote yourself"));
}

/// A concrete path for each route pattern.
fn concrete(pattern: &str) -> String {
    pattern
        .replace("{org_id}", "00D4c0000008cs2")
        .replace("{id}", "1")
        .replace("{name}", "w1")
}

async fn every_state_changing_route_is_guarded(db: TestDb) {
    reauth_tests::import_csv(
        &db.db,
        "org_id,name,environment,admin_email,wave\n00D4c0000008cs2,Acme Corp,production,admin@acme.com,w1\n",
    )
    .await;
    let app = TestApp::spawn(&db, config()).await;
    let admin = staff::first_sign_in(&app, "admin@partner.example", Role::Admin).await;
    let operator = staff::first_sign_in(&app, "op@partner.example", Role::Operator).await;
    let viewer = staff::first_sign_in(&app, "vi@partner.example", Role::Viewer).await;
    let count = || async {
        domain::entity::event::Entity::find()
            .count(&db.db)
            .await
            .unwrap()
    };
    // Enough of a form that the handler would act if it ran.
    let fields: &[(&str, &str)] = &[
        ("action", "pause_notices"),
        ("scope", "filter"),
        ("ids", "00D4c0000008cs2"),
        ("mode", "copy"),
        ("text", "a note"),
        ("paused", "true"),
        ("email", "new@partner.example"),
        ("role", "viewer"),
        ("change", "reset_password"),
        ("name", "svc"),
    ];
    assert!(server::STATE_CHANGING_ROUTES.len() >= 13);
    for (pattern, least) in server::STATE_CHANGING_ROUTES {
        let path = concrete(pattern);
        // Without the CSRF token: refused for everyone, nothing written.
        let before = count().await;
        let (s, _, body) = admin.post_without_csrf(&path, fields).await;
        assert_eq!(s, 403, "{path} without a CSRF token: {body}");
        assert!(body.contains("This form has expired"), "{path}: {body}");
        assert_eq!(count().await, before, "{path} without CSRF wrote an event");
        // With a wrong token: the same.
        let mut forged = vec![("csrf", "forged-token")];
        forged.extend_from_slice(fields);
        let (s, _, _) = admin.post_without_csrf(&path, &forged).await;
        assert_eq!(s, 403, "{path} with a forged token");
        // Below the route's role: refused, nothing written.
        let lower: Vec<&StaffClient> = match least {
            Role::Admin => vec![&viewer, &operator],
            Role::Operator => vec![&viewer],
            Role::Viewer => vec![],
        };
        for who in lower {
            let before = count().await;
            let (s, _, body) = who.post(&path, fields).await;
            assert_eq!(s, 403, "{path} as {}: {body}", who.email);
            assert!(
                body.contains("Your role does not allow this"),
                "{path}: {body}"
            );
            assert_eq!(
                count().await,
                before,
                "{path} as {} wrote an event",
                who.email
            );
        }
    }
    // Signed out: a POST leads to the sign-in page and changes nothing.
    let anon = http_client();
    let (_, _, login) = get(&anon, &format!("{}/login", app.base)).await;
    let (s, loc, _) = post(
        &anon,
        &format!("{}/orgs/00D4c0000008cs2/notes", app.base),
        &[("csrf", &csrf_in(&login)), ("text", "sneaky")],
    )
    .await;
    assert_eq!((s, loc.as_deref()), (303, Some("/login")));
    assert_eq!(events_of(&db, "org.note").await, 0);
    // Admin pages are for admins only, for reading too.
    assert_eq!(operator.get("/admin/staff").await.0, 403);
    assert_eq!(viewer.get("/admin/settings").await.0, 403);
    assert_eq!(admin.get("/admin/settings").await.0, 200);
}
both_backends!(
    every_state_changing_route_refuses_lower_roles_and_missing_csrf,
    every_state_changing_route_is_guarded
);
