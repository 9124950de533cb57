//! `GET /services/data/vNN.N/query` and `…/tooling/query` (with `nextRecordsUrl` paging) over
//! `LoginHistory`, `OauthToken` and the Tooling API's `InstalledSubscriberPackage`.
//!
//! Every request counts in `rest_queries`. Rows are visible as on Salesforce: an admin (Manage
//! Users / Customize Application) sees the org's rows, any other user only their own.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::config::InstalledPackage;
use crate::ids;
use crate::rest::authed;
use crate::soql::{self, FieldDef, Op, Query, SoqlError};
use crate::state::{CURSOR_CAP, Cursor, Grant, Inner, LoginRow, Shared, sf_datetime};

/// A query cursor closes after this long without a request (Salesforce: 15 minutes).
const CURSOR_IDLE: chrono::Duration = chrono::Duration::minutes(15);

fn soql_error(e: &SoqlError) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!([{ "message": e.message, "errorCode": e.code }])),
    )
        .into_response()
}

fn type_error(object: &str) -> Response {
    soql_error(&SoqlError {
        code: "INVALID_TYPE",
        message: format!(
            "sObject type '{object}' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names."
        ),
    })
}

/// The batch size: `Sforce-Query-Options: batchSize=N` (200–2000, as Salesforce clamps it), else
/// `settings.query_batch_size`.
fn batch_size(g: &Inner, headers: &HeaderMap) -> usize {
    let asked = headers
        .get("sforce-query-options")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split(',').find_map(|kv| {
                let (k, n) = kv.split_once('=')?;
                k.trim()
                    .eq_ignore_ascii_case("batchSize")
                    .then(|| n.trim().parse::<usize>().ok())?
            })
        });
    match asked {
        Some(n) => n.clamp(200, 2000),
        None => g.config.settings.query_batch_size.max(1),
    }
}

fn login_field(row: &LoginRow, name: &str, login_url: &str) -> Value {
    match name {
        "Application" => json!(row.application),
        "CountryIso" => json!(row.country_iso),
        "Id" => json!(row.id),
        "LoginSubType" => json!(row.login_sub_type),
        "LoginTime" => json!(row.login_time),
        "LoginType" => json!(row.login_type),
        "LoginUrl" => json!(login_url),
        "OptionsIsGet" => json!(false),
        "OptionsIsPost" => json!(true),
        "SourceIp" => json!(row.source_ip),
        "Status" => json!(row.status),
        "UserId" => json!(row.user_id),
        _ => Value::Null,
    }
}

fn token_field(g: &Inner, gr: &Grant, name: &str) -> Value {
    let label = g.app_label(&gr.client_id);
    match name {
        "AppName" | "AppMenuItem.Label" => json!(label),
        "AppMenuItem.Name" => json!(gr.client_id.replace(|c: char| !c.is_alphanumeric(), "_")),
        "CreatedDate" => json!(sf_datetime(gr.created)),
        "DeleteToken" => json!(gr.delete_token),
        "LastUsedDate" => json!(sf_datetime(gr.last_used)),
        "UseCount" => json!(gr.use_count),
        "UserId" => json!(gr.user_id),
        _ => Value::Null,
    }
}

fn package_id(p: &InstalledPackage) -> String {
    let tail: String = p.package_id.chars().skip(3).take(12).collect();
    ids::to18(&format!("0A3{tail:0>12}"))
}

fn package_field(p: &InstalledPackage, name: &str) -> Value {
    match name {
        "Id" => json!(package_id(p)),
        "SubscriberPackageId" | "SubscriberPackage.Id" => json!(p.package_id),
        "SubscriberPackageVersionId" | "SubscriberPackageVersion.Id" => json!(p.version_id),
        "SubscriberPackage.Name" => json!(p.name),
        "SubscriberPackage.NamespacePrefix" => json!(p.namespace_prefix),
        "SubscriberPackageVersion.Name" => json!(p.version_name),
        "SubscriberPackageVersion.MajorVersion" => json!(p.major),
        "SubscriberPackageVersion.MinorVersion" => json!(p.minor),
        "SubscriberPackageVersion.PatchVersion" => json!(p.patch),
        "SubscriberPackageVersion.BuildNumber" => json!(p.build),
        _ => Value::Null,
    }
}

/// The `UserId = '…'` a query pins, if any (normalised to 18 characters).
fn pinned_user(q: &Query) -> Option<String> {
    q.conditions
        .iter()
        .find_map(|c| match (&c.field.name, c.op, c.values.as_slice()) {
            (&"UserId", Op::Eq, [soql::Literal::Str(u)]) => Some(ids::norm18(u)),
            _ => None,
        })
}

fn attributes(object: &str, id: Option<&str>, version: &str, tooling: bool) -> Value {
    let mut a = json!({ "type": object });
    if let Some(id) = id {
        let api = if tooling { "tooling/" } else { "" };
        a["url"] = json!(format!(
            "/services/data/{version}/{api}sobjects/{object}/{id}"
        ));
    }
    a
}

/// Who asks, and through which endpoint.
struct Asker<'a> {
    org: &'a str,
    user: &'a str,
    admin: bool,
    version: &'a str,
    tooling: bool,
    login_url: &'a str,
}

/// The records of a parsed query, as the asking user sees them.
fn run(g: &Inner, q: &Query, a: &Asker<'_>) -> (usize, Vec<Value>) {
    let Asker {
        org,
        user,
        admin,
        version,
        tooling,
        login_url,
    } = *a;
    let visible_user = (!admin).then_some(user);
    let object = q.object.as_str();
    match object {
        "LoginHistory" => {
            let get = |r: &LoginRow, n: &str| login_field(r, n, login_url);
            // Pinned to one user (by the query or by visibility): read that user's index.
            let pinned = pinned_user(q);
            let only = match (visible_user, pinned.as_deref()) {
                (Some(v), Some(p)) if v != p => return (0, vec![]),
                (Some(v), _) => Some(v.to_owned()),
                (None, p) => p.map(str::to_owned),
            };
            let rows: Vec<&LoginRow> = match &only {
                Some(u) => g
                    .logins_by_user
                    .get(u)
                    .into_iter()
                    .flatten()
                    .filter_map(|seq| g.login_at(*seq))
                    .filter(|r| r.org_id == org)
                    .collect(),
                None => g.logins.iter().filter(|r| r.org_id == org).collect(),
            };
            // Without ORDER BY, newest first.
            let ordered: Vec<&LoginRow> = if q.order.is_empty() {
                rows.into_iter().rev().collect()
            } else {
                rows
            };
            let hits = q.select(ordered.into_iter(), get);
            let out = hits
                .iter()
                .map(|r| q.project(*r, get, attributes(object, Some(&r.id), version, tooling)))
                .collect();
            (hits.len(), out)
        }
        "OauthToken" => {
            let mut grants: Vec<(&u64, &Grant)> = g
                .grants
                .iter()
                .filter(|(_, gr)| {
                    gr.org_id == org && !gr.revoked && visible_user.is_none_or(|u| gr.user_id == u)
                })
                .collect();
            grants.sort_by_key(|(id, _)| **id);
            let get = |gr: &Grant, n: &str| token_field(g, gr, n);
            let hits = q.select(grants.iter().map(|(_, gr)| *gr), get);
            let out = hits
                .iter()
                .map(|gr| q.project(*gr, get, attributes(object, None, version, tooling)))
                .collect();
            (hits.len(), out)
        }
        "InstalledSubscriberPackage" => {
            let packages: &[InstalledPackage] =
                g.org(org).map_or(&[], |o| o.installed_packages.as_slice());
            let hits = q.select(packages.iter(), package_field);
            let out = hits
                .iter()
                .map(|p| {
                    let id = package_id(p);
                    q.project(
                        *p,
                        package_field,
                        attributes(object, Some(&id), version, tooling),
                    )
                })
                .collect();
            (hits.len(), out)
        }
        _ => (0, vec![]),
    }
}

fn schema(object: &str, tooling: bool) -> Option<&'static [FieldDef]> {
    match (object, tooling) {
        ("LoginHistory", false) => Some(soql::LOGIN_HISTORY),
        ("OauthToken", false) => Some(soql::OAUTH_TOKEN),
        ("InstalledSubscriberPackage", true) => Some(soql::INSTALLED_SUBSCRIBER_PACKAGE),
        _ => None,
    }
}

/// The canonical object name for `FROM x` (case-insensitive).
fn canonical_object(name: &str) -> Option<&'static str> {
    ["LoginHistory", "OauthToken", "InstalledSubscriberPackage"]
        .into_iter()
        .find(|o| o.eq_ignore_ascii_case(name))
}

fn answer(
    total: usize,
    records: Vec<Value>,
    next: Option<String>,
    tooling: bool,
    object: &str,
) -> Response {
    let mut body = json!({
        "totalSize": total,
        "done": next.is_none(),
        "records": records,
    });
    if tooling {
        body["size"] = json!(total);
        body["entityTypeName"] = json!(object);
        body["queryLocator"] = json!(next.as_deref().and_then(|n| n.rsplit('/').next()));
    }
    if let Some(n) = next {
        body["nextRecordsUrl"] = json!(n);
    }
    Json(body).into_response()
}

fn next_url(version: &str, tooling: bool, cursor: &str, offset: usize) -> String {
    let api = if tooling { "tooling/" } else { "" };
    format!("/services/data/{version}/{api}query/{cursor}-{offset}")
}

/// `GET …/query?q=…` and `GET …/tooling/query?q=…`.
pub async fn query(
    shared: Arc<Shared>,
    version: String,
    headers: HeaderMap,
    params: HashMap<String, String>,
    tooling: bool,
) -> Response {
    crate::server::delay(&shared).await;
    let mut g = shared.lock();
    g.stats.rest_queries += 1;
    let (org, user) = match authed(&mut g, &headers) {
        Ok(x) => x,
        Err(r) => return r.into_response(),
    };
    let admin = g.user_by_id(&user).is_some_and(|u| u.admin);
    let soql_text = params.get("q").cloned().unwrap_or_default();
    let named = match soql::object_of(&soql_text) {
        Ok(o) => o,
        Err(e) => return soql_error(&e),
    };
    let Some((object, fields)) =
        canonical_object(&named).and_then(|o| Some((o, schema(o, tooling)?)))
    else {
        return type_error(&named);
    };
    let q = match soql::parse(&soql_text, object, fields) {
        Ok(q) => q,
        Err(e) => return soql_error(&e),
    };
    let login_url = shared.base_url.trim_start_matches("http://").to_owned();
    let asker = Asker {
        org: &org,
        user: &user,
        admin,
        version: &version,
        tooling,
        login_url: &login_url,
    };
    let (total, records) = run(&g, &q, &asker);
    if q.count_only {
        return answer(total, vec![], None, tooling, object);
    }
    let batch = batch_size(&g, &headers);
    if records.len() <= batch {
        return answer(total, records, None, tooling, object);
    }
    // Keep every record so any page (a retried one too) can be fetched by its offset.
    let first = records[..batch].to_vec();
    let id = ids::to18(&format!("01g{}", ids::random(12)));
    let now = g.now();
    // `cursor_order` holds every open cursor (and some closed ones): bounding it bounds both.
    while g.cursor_order.len() >= CURSOR_CAP {
        if let Some(old) = g.cursor_order.pop_front() {
            g.cursors.remove(&old);
        }
    }
    g.cursor_order.push_back(id.clone());
    g.cursors.insert(
        id.clone(),
        Cursor {
            user_id: user,
            tooling,
            object: object.to_owned(),
            records,
            batch,
            last_access: now,
        },
    );
    answer(
        total,
        first,
        Some(next_url(&version, tooling, &id, batch)),
        tooling,
        object,
    )
}

fn invalid_locator() -> Response {
    soql_error(&SoqlError {
        code: "INVALID_QUERY_LOCATOR",
        message: "invalid query locator".into(),
    })
}

/// `GET …/query/{cursor}-{offset}` and `GET …/tooling/query/{cursor}-{offset}`: the next batch.
pub async fn query_more(
    shared: Arc<Shared>,
    version: String,
    locator: String,
    headers: HeaderMap,
    tooling: bool,
) -> Response {
    crate::server::delay(&shared).await;
    let mut g = shared.lock();
    g.stats.rest_queries += 1;
    let (_, user) = match authed(&mut g, &headers) {
        Ok(x) => x,
        Err(r) => return r.into_response(),
    };
    let Some((id, offset)) = locator
        .rsplit_once('-')
        .and_then(|(id, o)| Some((id.to_owned(), o.parse::<usize>().ok()?)))
    else {
        return invalid_locator();
    };
    let now = g.now();
    let Some(c) = g.cursors.get_mut(&id) else {
        return invalid_locator();
    };
    if c.user_id != user || c.tooling != tooling || offset > c.records.len() {
        return invalid_locator();
    }
    if now - c.last_access > CURSOR_IDLE {
        g.cursors.remove(&id);
        return invalid_locator();
    }
    c.last_access = now;
    let end = (offset + c.batch).min(c.records.len());
    let page = c.records[offset..end].to_vec();
    let total = c.records.len();
    let object = c.object.clone();
    let next = (end < total).then(|| next_url(&version, tooling, &id, end));
    answer(total, page, next, tooling, &object)
}
