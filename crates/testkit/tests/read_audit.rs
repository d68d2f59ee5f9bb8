//! Audited reads under concurrency (issue 16): a read runs beside other reads and writers,
//! and its audit entry is committed by group commit before the read answers. Many reads at
//! once must each leave exactly their own entry — none lost, none doubled, the chain intact —
//! and a read whose entry cannot be committed must not answer with the data.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

use circle_domain::user::Role;
use circle_testkit::{TestApp, respond, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Every entry with `action` naming `client`, from the administrator's audit report (fewer
/// than 500 here: one page).
async fn entries(t: &TestApp, admin: &str, action: &str, client: i64) -> Vec<Value> {
    let (s, list) = t
        .get(
            admin,
            &format!("/api/v1/audit?action={action}&client_id={client}&sort=seq&limit=500"),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{list}");
    list.as_array().unwrap().clone()
}

#[tokio::test]
async fn concurrent_reads_each_commit_exactly_their_own_audit_entry() {
    let t = spawn_app().await;
    let director = t
        .token_for("director@example.test", Role::Director, None, None)
        .await;
    let other = t
        .token_for("director2@example.test", Role::Director, None, None)
        .await;
    let admin = t
        .token_for("admin@example.test", Role::Admin, None, None)
        .await;
    let (s, client) = t
        .post(
            &director,
            "/api/v1/clients",
            json!({"record_number": "RA-1", "given_name": "Reade", "family_name": "Testcase",
                "date_of_birth": "1990-02-03", "referral_source": "program_admission"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{client}");
    let id = client["id"].as_i64().unwrap();

    // 80 reads of the client by two accounts, with writes (new rooms) among them, all at
    // once: the entries of reads that arrive together are committed together.
    let mut running = tokio::task::JoinSet::new();
    for i in 0..90 {
        let (http, base) = (t.http.clone(), t.base.clone());
        let token = if i % 2 == 0 {
            director.clone()
        } else {
            other.clone()
        };
        let write = i >= 80;
        let director = director.clone();
        running.spawn(async move {
            let r = if write {
                http.post(format!("{base}/api/v1/rooms"))
                    .bearer_auth(director)
                    .json(&json!({"site": "Annex", "name": format!("Room {i}"), "capacity": 8}))
            } else {
                http.get(format!("{base}/api/v1/clients/{id}"))
                    .bearer_auth(token)
            };
            (write, respond(r.send().await.unwrap()).await)
        });
    }
    for (write, (s, body)) in running.join_all().await {
        if write {
            assert_eq!(s, StatusCode::CREATED, "{body}");
        } else {
            assert_eq!(s, StatusCode::OK, "{body}");
            assert_eq!(body["id"], id);
        }
    }

    let found = entries(&t, &admin, "client.read", id).await;
    assert_eq!(
        found.len(),
        80,
        "one client.read per read, no more, no fewer"
    );
    let mut seqs: Vec<i64> = found.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    seqs.dedup();
    assert_eq!(seqs.len(), 80, "each entry its own link of the chain");
    // Each entry carries its own reader: 40 reads each.
    let ids: std::collections::BTreeMap<String, usize> =
        found.iter().fold(Default::default(), |mut m, e| {
            *m.entry(e["actor_user_id"].to_string()).or_default() += 1;
            m
        });
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(ids.values().all(|n| *n == 40), "{ids:?}");

    let report = t.db.store.verify_audit().await.unwrap();
    assert!(report.first_broken.is_none(), "{report:?}");
}
