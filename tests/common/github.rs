//! A fake GitHub REST API on loopback, answering with the shapes GitHub
//! documents for the endpoints lifeboat uses: issues, comments, labels,
//! artifacts (with the 302 to blob storage) and workflow runs.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub struct State {
    pub issues: Vec<Value>,
    pub comments: Vec<(u64, String)>,
    pub labels: Vec<String>,
    pub artifacts: Vec<Value>,
    pub blobs: Vec<(u64, Vec<u8>)>,
    pub runs: Vec<Value>,
    /// Answer writes to issues and labels with 403, as for a token without
    /// `issues: write`.
    pub forbid_issue_writes: bool,
    pub forbid_actions: bool,
    /// Serve blobs without a Content-Length, their end marked by closing
    /// the connection, as HTTP/1.1 allows: a download's size is then
    /// known only as it arrives.
    pub blobs_without_length: bool,
    pub requests: Vec<String>,
}

pub struct FakeGitHub {
    pub url: String,
    pub state: Arc<Mutex<State>>,
}

/// Who GitHub says created what a workflow's GITHUB_TOKEN (an installation
/// token, `ghs_…`) creates.
pub const BOT_LOGIN: &str = "github-actions[bot]";
/// Who a personal token in these tests belongs to.
pub const USER_LOGIN: &str = "octo-admin";

fn login_of(token: &str) -> &'static str {
    if token.starts_with("ghs_") {
        BOT_LOGIN
    } else {
        USER_LOGIN
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl FakeGitHub {
    pub fn start() -> FakeGitHub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let (s, u) = (state.clone(), url.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (s, u) = (s.clone(), u.clone());
                std::thread::spawn(move || serve(stream, &s, &u));
            }
        });
        FakeGitHub { url, state }
    }

    pub fn issue(number: u64, title: &str, body: &str, pull_request: bool) -> Value {
        Self::issue_by(number, title, body, pull_request, BOT_LOGIN)
    }

    /// An issue as `login` opened it.
    pub fn issue_by(number: u64, title: &str, body: &str, pull_request: bool, login: &str) -> Value {
        let user = if login.ends_with("[bot]") {
            json!({"login": login, "id": 41898282, "type": "Bot"})
        } else {
            json!({"login": login, "id": 583231, "type": "User"})
        };
        let mut issue = json!({
            "id": 1000 + number, "node_id": format!("I_{number}"), "number": number,
            "url": format!("https://api.github.com/repos/o/r/issues/{number}"),
            "html_url": format!("https://github.com/o/r/issues/{number}"),
            "state": "open", "state_reason": null, "title": title, "body": body,
            "user": user,
            "labels": [], "assignees": [], "comments": 0, "locked": false,
            "author_association": "NONE", "created_at": now(), "updated_at": now(), "closed_at": null
        });
        if pull_request {
            issue["pull_request"] = json!({"url": format!("https://api.github.com/repos/o/r/pulls/{number}")});
        }
        issue
    }

    pub fn open_issues_with(&self, text: &str) -> Vec<Value> {
        let st = self.state.lock().unwrap();
        st.issues
            .iter()
            .filter(|i| {
                i["state"] == "open" && i["pull_request"].is_null() && i["body"].as_str().unwrap_or("").contains(text)
            })
            .cloned()
            .collect()
    }
}

fn respond(stream: &mut TcpStream, status: u16, headers: &[(&str, String)], body: &[u8]) {
    let reason = match status {
        200 => "OK",
        201 => "Created",
        302 => "Found",
        403 => "Forbidden",
        404 => "Not Found",
        _ => "Unprocessable Entity",
    };
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
}

fn json_response(stream: &mut TcpStream, status: u16, value: &Value, extra: &[(&str, String)]) {
    let mut headers = vec![("Content-Type", "application/json; charset=utf-8".to_string())];
    headers.extend(extra.iter().cloned());
    respond(stream, status, &headers, value.to_string().as_bytes());
}

fn query_param(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|p| {
        p.split_once('=')
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| v.replace('+', " ").replace("%20", " "))
    })
}

fn paginate(items: &[Value], query: &str, base: &str, path: &str) -> (Vec<Value>, Option<String>) {
    let per_page: usize = query_param(query, "per_page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(30)
        .min(100);
    let page: usize = query_param(query, "page").and_then(|v| v.parse().ok()).unwrap_or(1);
    let start = (page - 1) * per_page;
    let slice: Vec<Value> = items.iter().skip(start).take(per_page).cloned().collect();
    let last = items.len().div_ceil(per_page).max(1);
    let link = (page < last).then(|| {
        let others: Vec<&str> = query.split('&').filter(|p| !p.starts_with("page=")).collect();
        format!(
            "<{base}{path}?{}&page={}>; rel=\"next\", <{base}{path}?{}&page={last}>; rel=\"last\"",
            others.join("&"),
            page + 1,
            others.join("&")
        )
    });
    (slice, link)
}

fn serve(mut stream: TcpStream, state: &Arc<Mutex<State>>, base: &str) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let mut length = 0usize;
    let mut token: Option<String> = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        let lower = h.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        if lower.starts_with("authorization:") {
            // "Bearer <token>" or "token <token>"; the token keeps its case.
            token = h.split_whitespace().last().map(str::to_string);
        }
    }
    let mut body = vec![0u8; length];
    let _ = reader.read_exact(&mut body);
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut st = state.lock().unwrap();
    st.requests.push(format!("{method} {path}"));
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let forbidden = json!({"message": "Resource not accessible by integration", "documentation_url": "https://docs.github.com/rest/issues/issues#create-an-issue", "status": "403"});
    let not_found =
        json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest", "status": "404"});
    if token.is_none() && matches!(segments.first(), Some(&"repos") | Some(&"user")) {
        json_response(&mut stream, 401, &json!({"message": "Requires authentication"}), &[]);
        return;
    }
    let login = login_of(token.as_deref().unwrap_or(""));
    match (method.as_str(), segments.as_slice()) {
        // GET /user answers for a user's token; for an installation token
        // (GITHUB_TOKEN) GitHub refuses it with this 403.
        ("GET", ["user"]) if login == BOT_LOGIN => json_response(
            &mut stream,
            403,
            &json!({"message": "Resource not accessible by integration", "documentation_url": "https://docs.github.com/rest/users/users#get-the-authenticated-user", "status": "403"}),
            &[],
        ),
        ("GET", ["user"]) => json_response(
            &mut stream,
            200,
            &json!({"login": login, "id": 583231, "node_id": "MDQ6VXNlcjU4MzIzMQ==", "type": "User", "site_admin": false,
                "html_url": format!("https://github.com/{login}"), "name": "Octo Admin", "created_at": "2011-01-25T18:44:36Z"}),
            &[],
        ),
        ("GET", ["repos", _, _, "issues"]) => {
            let open: Vec<Value> = st.issues.iter().filter(|i| i["state"] == "open").cloned().collect();
            let (items, link) = paginate(&open, query, base, path);
            let extra: Vec<(&str, String)> = link.map(|l| ("Link", l)).into_iter().collect();
            json_response(&mut stream, 200, &Value::Array(items), &extra);
        }
        ("POST", ["repos", _, _, "issues"]) => {
            if st.forbid_issue_writes {
                return json_response(&mut stream, 403, &forbidden, &[]);
            }
            let number = st.issues.len() as u64 + 1;
            let mut issue = FakeGitHub::issue_by(
                number,
                body["title"].as_str().unwrap_or(""),
                body["body"].as_str().unwrap_or(""),
                false,
                login,
            );
            issue["labels"] = Value::Array(
                body["labels"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .iter()
                    .map(|l| json!({"name": l, "color": "b60205"}))
                    .collect(),
            );
            st.issues.push(issue.clone());
            json_response(&mut stream, 201, &issue, &[]);
        }
        ("POST", ["repos", _, _, "issues", n, "comments"]) => {
            if st.forbid_issue_writes {
                return json_response(&mut stream, 403, &forbidden, &[]);
            }
            let n: u64 = n.parse().unwrap_or(0);
            st.comments.push((n, body["body"].as_str().unwrap_or("").to_string()));
            let comment = json!({"id": 5000 + st.comments.len(), "node_id": "IC_x", "body": body["body"], "html_url": format!("https://github.com/o/r/issues/{n}#issuecomment-1"),
                "user": {"login": login, "id": 41898282}, "created_at": now(), "updated_at": now(), "author_association": "NONE"});
            json_response(&mut stream, 201, &comment, &[]);
        }
        ("PATCH", ["repos", _, _, "issues", n]) => {
            if st.forbid_issue_writes {
                return json_response(&mut stream, 403, &forbidden, &[]);
            }
            let n: u64 = n.parse().unwrap_or(0);
            let Some(issue) = st.issues.iter_mut().find(|i| i["number"] == n) else {
                return json_response(&mut stream, 404, &not_found, &[]);
            };
            if let Some(state) = body.get("state") {
                issue["state"] = state.clone();
                issue["closed_at"] = json!(now());
            }
            let issue = issue.clone();
            json_response(&mut stream, 200, &issue, &[]);
        }
        ("GET", ["repos", _, _, "labels", name]) => {
            let name = name.replace("%20", " ");
            if st.labels.contains(&name) {
                json_response(
                    &mut stream,
                    200,
                    &json!({"id": 1, "node_id": "LA_x", "name": name, "color": "b60205", "default": false, "description": null}),
                    &[],
                );
            } else {
                json_response(&mut stream, 404, &not_found, &[]);
            }
        }
        ("POST", ["repos", _, _, "labels"]) => {
            if st.forbid_issue_writes {
                return json_response(&mut stream, 403, &forbidden, &[]);
            }
            st.labels.push(body["name"].as_str().unwrap_or("").to_string());
            json_response(
                &mut stream,
                201,
                &json!({"id": 2, "node_id": "LA_y", "name": body["name"], "color": body["color"], "default": false, "description": body["description"]}),
                &[],
            );
        }
        ("GET", ["repos", owner, name]) => {
            let repo = json!({"id": 1, "node_id": "R_1", "name": name, "full_name": format!("{owner}/{name}"),
                "private": false, "default_branch": "main", "owner": {"login": owner, "id": 7}});
            json_response(&mut stream, 200, &repo, &[]);
        }
        ("GET", ["repos", _, _, "actions", "artifacts"]) => {
            if st.forbid_actions {
                return json_response(&mut stream, 403, &forbidden, &[]);
            }
            let name = query_param(query, "name");
            let matching: Vec<Value> = st
                .artifacts
                .iter()
                .filter(|a| name.as_deref().is_none_or(|n| a["name"] == n))
                .cloned()
                .collect();
            let (mut items, link) = paginate(&matching, query, base, path);
            // GitHub lists the size of the zip it serves; a test that sets
            // one explicitly plays a server that lies about it.
            for a in items.iter_mut().filter(|a| a["size_in_bytes"].is_null()) {
                let size = st
                    .blobs
                    .iter()
                    .find(|(id, _)| a["id"] == *id)
                    .map_or(0, |(_, b)| b.len());
                a["size_in_bytes"] = json!(size);
            }
            let extra: Vec<(&str, String)> = link.map(|l| ("Link", l)).into_iter().collect();
            json_response(
                &mut stream,
                200,
                &json!({"total_count": matching.len(), "artifacts": items}),
                &extra,
            );
        }
        ("GET", ["repos", _, _, "actions", "artifacts", id, "zip"]) => {
            if st.forbid_actions {
                return json_response(&mut stream, 403, &forbidden, &[]);
            }
            respond(&mut stream, 302, &[("Location", format!("{base}/blob/{id}"))], b"");
        }
        ("GET", ["repos", _, _, "actions", "runs", id]) => {
            let id: u64 = id.parse().unwrap_or(0);
            match st.runs.iter().find(|r| r["id"] == id) {
                Some(run) => json_response(&mut stream, 200, &run.clone(), &[]),
                None => json_response(&mut stream, 404, &not_found, &[]),
            }
        }
        ("GET", ["blob", id]) => {
            let id: u64 = id.parse().unwrap_or(0);
            match st.blobs.iter().find(|(i, _)| *i == id) {
                Some((_, bytes)) if st.blobs_without_length => {
                    let head = "HTTP/1.1 200 OK\r\nContent-Type: application/zip\r\nConnection: close\r\n\r\n";
                    let _ = stream.write_all(head.as_bytes());
                    let _ = stream.write_all(bytes);
                }
                Some((_, bytes)) => respond(
                    &mut stream,
                    200,
                    &[("Content-Type", "application/zip".into())],
                    &bytes.clone(),
                ),
                None => respond(&mut stream, 404, &[], b"missing blob"),
            }
        }
        _ => json_response(&mut stream, 404, &not_found, &[]),
    }
}

/// An artifact as GitHub lists it; its size is filled in from its blob
/// when listed.
pub fn artifact(id: u64, name: &str, run_id: u64, branch: &str, days_old: i64, expired: bool) -> Value {
    let created = chrono::Utc::now() - chrono::Duration::days(days_old);
    json!({
        "id": id, "node_id": format!("MDg6QXJ0aWZhY3Q{id}"), "name": name, "size_in_bytes": null,
        "url": format!("https://api.github.com/repos/o/r/actions/artifacts/{id}"),
        "archive_download_url": format!("https://api.github.com/repos/o/r/actions/artifacts/{id}/zip"),
        "expired": expired, "created_at": created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "updated_at": created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "expires_at": (created + chrono::Duration::days(90)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "workflow_run": {"id": run_id, "repository_id": 1, "head_repository_id": 1, "head_branch": branch, "head_sha": "0123456789abcdef0123456789abcdef01234567"}
    })
}

/// An artifact uploaded by a run of a pull request from a fork: its head
/// repository is not this one.
pub fn fork_artifact(id: u64, name: &str, run_id: u64, branch: &str, days_old: i64) -> Value {
    let mut a = artifact(id, name, run_id, branch, days_old, false);
    a["workflow_run"]["head_repository_id"] = json!(666);
    a
}

/// A zip holding files, as upload-artifact makes them.
pub fn zip_of(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut cursor = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut cursor);
        for (name, bytes) in files {
            z.start_file(
                *name,
                zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated),
            )
            .unwrap();
            z.write_all(bytes).unwrap();
        }
        z.finish().unwrap();
    }
    cursor.into_inner()
}

/// A zip bomb: an entry `name` of `zeros` zero bytes (a whole number of
/// MiB, under 4 GiB), honestly declared, in a zip of about a thousandth of
/// that, followed by the small `others`. Built without deflating it all:
/// one MiB of zeros deflated from an empty window and sync-flushed ends on
/// a byte boundary and refers to nothing before it, so its bytes repeated
/// are a valid stream of as many MiB, closed by an empty final block.
pub fn zip_bomb(name: &str, zeros: u32, others: &[(&str, Vec<u8>)]) -> Vec<u8> {
    use flate2::{Compress, Compression, Crc, FlushCompress};
    const MIB: usize = 1 << 20;
    assert_eq!(zeros as usize % MIB, 0);
    let mib = vec![0u8; MIB];
    let mut deflate = Compress::new(Compression::default(), false);
    let mut chunk = Vec::with_capacity(64 << 10);
    deflate.compress_vec(&mib, &mut chunk, FlushCompress::Sync).unwrap();
    assert_eq!(deflate.total_in(), MIB as u64);
    let mut mib_crc = Crc::new();
    mib_crc.update(&mib);
    let count = zeros as usize / MIB;
    let mut data = chunk.repeat(count);
    data.extend_from_slice(&[0x03, 0x00]);
    let mut crc = Crc::new();
    for _ in 0..count {
        crc.combine(&mib_crc);
    }
    let mut entries = vec![(name.to_string(), crc.sum(), data, zeros)];
    for (other, bytes) in others {
        let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(bytes).unwrap();
        let mut crc = Crc::new();
        crc.update(bytes);
        entries.push((
            other.to_string(),
            crc.sum(),
            encoder.finish().unwrap(),
            bytes.len() as u32,
        ));
    }
    // Local headers with their data, the central directory, its end.
    let mut zip = Vec::new();
    let mut central = Vec::new();
    for (name, crc, data, size) in &entries {
        let offset = zip.len() as u32;
        let common = |out: &mut Vec<u8>| {
            out.extend_from_slice(&20u16.to_le_bytes()); // version needed
            out.extend_from_slice(&0u16.to_le_bytes()); // flags
            out.extend_from_slice(&8u16.to_le_bytes()); // deflated
            out.extend_from_slice(&0u16.to_le_bytes()); // time
            out.extend_from_slice(&0x21u16.to_le_bytes()); // 1980-01-01
            out.extend_from_slice(&crc.to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&size.to_le_bytes());
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes()); // extra
        };
        zip.extend_from_slice(&0x04034b50u32.to_le_bytes());
        common(&mut zip);
        zip.extend_from_slice(name.as_bytes());
        zip.extend_from_slice(data);
        central.extend_from_slice(&0x02014b50u32.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes()); // made by
        common(&mut central);
        central.extend_from_slice(&[0; 6]); // comment, disk, internal attributes
        central.extend_from_slice(&0u32.to_le_bytes()); // external attributes
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let central_at = zip.len() as u32;
    zip.extend_from_slice(&central);
    zip.extend_from_slice(&0x06054b50u32.to_le_bytes());
    zip.extend_from_slice(&[0; 4]); // disks
    zip.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    zip.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    zip.extend_from_slice(&(central.len() as u32).to_le_bytes());
    zip.extend_from_slice(&central_at.to_le_bytes());
    zip.extend_from_slice(&0u16.to_le_bytes()); // comment
    zip
}
