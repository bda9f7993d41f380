//! An S3-compatible bucket as a store (AWS S3, MinIO, Ceph, R2, ...),
//! `s3://bucket/prefix`, through the `object_store` crate.
//!
//! A set is uploaded in parts straight from its file, the tar first, then
//! its verification record, and its sidecar last: a set is listed only
//! once its sidecar is there, so a reader never sees a set that is still
//! on its way (and an upload cut short leaves, at most, an incomplete
//! multipart upload that no listing shows).

use super::{SetEntry, SetName, Store, VerifiedRecord};
use crate::archive::checksum::{self, HashingWriter};
use crate::http::until_cancelled;
use crate::progress::Reporter;
use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{
    Attribute, Attributes, BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, PutMultipartOptions, PutPayload,
    RetryConfig,
};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The size of one uploaded part: S3 takes 5 MiB to 5 GiB per part and
/// 10,000 parts at most, so larger sets get larger parts. Only one part
/// is ever held in memory.
const PART_SIZE: u64 = 8 << 20;
const MAX_PARTS: u64 = 9_000;
/// A tar without its sidecar this old is left by an upload that stopped.
const LEFTOVER_AGE: chrono::TimeDelta = chrono::TimeDelta::hours(1);

/// How to reach the bucket: flags, then the variables the AWS CLI reads.
#[derive(Debug, Clone, Default)]
pub struct S3Settings {
    /// `--s3-endpoint`; else `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`.
    pub endpoint: Option<String>,
    /// `--s3-region`; else `AWS_REGION`, `AWS_DEFAULT_REGION`, `us-east-1`.
    pub region: Option<String>,
    /// `--s3-allow-http`, or `AWS_ALLOW_HTTP=true`.
    pub allow_http: bool,
    /// `--s3-virtual-hosted`: `bucket.host/key` instead of `host/bucket/key`.
    pub virtual_hosted: bool,
    /// `--storage-class` for the sets written (STANDARD_IA, GLACIER_IR, ...).
    pub storage_class: Option<String>,
}

/// A prefix of a bucket.
pub struct S3Store {
    /// `s3://bucket/prefix`, without a trailing slash.
    url: String,
    bucket: String,
    prefix: Option<ObjectPath>,
    endpoint: String,
    store: AmazonS3,
    storage_class: Option<String>,
    runtime: tokio::runtime::Runtime,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Whether a variable says yes as the AWS tools write it.
fn env_true(name: &str) -> bool {
    env(name).is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
}

impl S3Store {
    pub fn open(url: &str, settings: &S3Settings) -> Result<S3Store> {
        crate::http::tls_ready();
        let rest = url.strip_prefix("s3://").context("an S3 location starts with s3://")?;
        let rest = rest.trim_end_matches('/');
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            crate::usage_bail!("{url}: name the bucket, as in s3://bucket/prefix");
        }
        let prefix = (!prefix.is_empty())
            .then(|| ObjectPath::parse(prefix))
            .transpose()
            .with_context(|| format!("{url}: the prefix is not a valid object key"))?;
        let endpoint = settings
            .endpoint
            .clone()
            .or_else(|| env("AWS_ENDPOINT_URL_S3"))
            .or_else(|| env("AWS_ENDPOINT_URL"));
        let region = settings
            .region
            .clone()
            .or_else(|| env("AWS_REGION"))
            .or_else(|| env("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| "us-east-1".into());
        let allow_http = settings.allow_http || env_true("AWS_ALLOW_HTTP");
        if let Some(e) = &endpoint
            && e.starts_with("http://")
            && !allow_http
        {
            crate::usage_bail!(
                "the S3 endpoint {e} is plain http: credentials and sets would cross the network unencrypted. Use https, or say so with --s3-allow-http (AWS_ALLOW_HTTP=true)"
            );
        }
        let mut client = ClientOptions::new()
            .with_allow_http(allow_http)
            .with_connect_timeout(Duration::from_secs(10))
            .with_timeout(Duration::from_secs(300));
        // The proxy variables curl and the AWS CLI read.
        if let Some(proxy) = ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
            .iter()
            .find_map(|k| env(k))
        {
            client = client.with_proxy_url(proxy);
            if let Some(excludes) = env("NO_PROXY").or_else(|| env("no_proxy")) {
                client = client.with_proxy_excludes(excludes);
            }
        }
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region(&region)
            .with_virtual_hosted_style_request(settings.virtual_hosted)
            .with_client_options(client)
            .with_retry(RetryConfig {
                backoff: BackoffConfig::default(),
                max_retries: 4,
                retry_timeout: Duration::from_secs(60),
            });
        if let Some(e) = &endpoint {
            builder = builder.with_endpoint(e);
        }
        let key = crate::fsutil::env_or_file("AWS_ACCESS_KEY_ID")?;
        let secret = crate::fsutil::env_or_file("AWS_SECRET_ACCESS_KEY")?;
        match (key, secret) {
            (Some(key), Some(secret)) => {
                builder = builder.with_access_key_id(key).with_secret_access_key(secret);
                if let Some(token) = crate::fsutil::env_or_file("AWS_SESSION_TOKEN")? {
                    builder = builder.with_token(token);
                }
            }
            (Some(_), None) | (None, Some(_)) => crate::usage_bail!(
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or their _FILE variants) go together: one of them is missing"
            ),
            (None, None) => {
                // Credentials the platform hands out (ECS tasks, EKS pods)
                // come through these; without any, fail here rather than
                // probe an instance metadata address that is not there.
                let mut platform = false;
                for (var, key) in [
                    (
                        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                        "aws_container_credentials_relative_uri",
                    ),
                    (
                        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                        "aws_container_credentials_full_uri",
                    ),
                    (
                        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                        "aws_container_authorization_token_file",
                    ),
                    ("AWS_WEB_IDENTITY_TOKEN_FILE", "aws_web_identity_token_file"),
                    ("AWS_ROLE_ARN", "aws_role_arn"),
                    ("AWS_ROLE_SESSION_NAME", "aws_role_session_name"),
                ] {
                    if let Some(v) = env(var) {
                        builder = builder.with_config(key.parse().expect("a known key"), v);
                        platform |= var != "AWS_ROLE_SESSION_NAME";
                    }
                }
                if !platform && !env_true("LIFEBOAT_S3_INSTANCE_CREDENTIALS") {
                    crate::usage_bail!(
                        "no credentials for {url}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_SECRET_ACCESS_KEY_FILE), or LIFEBOAT_S3_INSTANCE_CREDENTIALS=true on an EC2 instance with a role"
                    );
                }
            }
        }
        let store = builder
            .build()
            .with_context(|| format!("setting up the S3 client for {url}"))?;
        Ok(S3Store {
            url: format!(
                "s3://{bucket}{}",
                prefix.as_ref().map(|p| format!("/{p}")).unwrap_or_default()
            ),
            bucket: bucket.to_string(),
            prefix,
            endpoint: endpoint.unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com")),
            store,
            storage_class: settings.storage_class.clone(),
            runtime: crate::http::runtime("S3")?,
        })
    }

    fn key(&self, file_name: &str) -> ObjectPath {
        match &self.prefix {
            Some(p) => p.clone().join(file_name),
            None => ObjectPath::from(file_name),
        }
    }

    fn url_of(&self, file_name: &str) -> PathBuf {
        PathBuf::from(format!("{}/{file_name}", self.url))
    }

    /// Runs one request (or a few) to its end, or until a signal.
    fn run<F: std::future::Future<Output = object_store::Result<T>>, T>(&self, what: &str, future: F) -> Result<T> {
        self.runtime
            .block_on(until_cancelled(future))?
            .map_err(|e| self.explain(e, what))
    }

    /// An object store error as a message that says what to do.
    fn explain(&self, err: object_store::Error, what: &str) -> anyhow::Error {
        let text = err.to_string();
        let hint = if text.contains("NoSuchBucket") || text.contains("The specified bucket does not exist") {
            format!(
                "bucket {} does not exist at {}: create it, or fix the URL",
                self.bucket, self.endpoint
            )
        } else if [
            "InvalidAccessKeyId",
            "SignatureDoesNotMatch",
            "InvalidClientTokenId",
            "ExpiredToken",
        ]
        .iter()
        .any(|c| text.contains(c))
        {
            format!(
                "{} refused the credentials: check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or their _FILE variants) and AWS_SESSION_TOKEN",
                self.endpoint
            )
        } else if text.contains("AccessDenied") || text.contains("403 Forbidden") {
            format!(
                "{} denied access to bucket {}: the credentials lack a permission (s3:ListBucket, s3:GetObject, s3:PutObject, s3:DeleteObject)",
                self.endpoint, self.bucket
            )
        } else if text.contains("error sending request")
            || text.contains("Connection refused")
            || text.contains("dns error")
        {
            format!(
                "cannot reach {}: check the endpoint (--s3-endpoint, AWS_ENDPOINT_URL) and the network",
                self.endpoint
            )
        } else {
            String::new()
        };
        // The full text too: it names the request, never a secret (object
        // store errors carry no credentials or signatures).
        let detail = crate::github::workflow::neutralize(&text);
        if hint.is_empty() {
            anyhow::anyhow!("{what}: {detail}")
        } else {
            anyhow::anyhow!("{what}: {hint} ({detail})")
        }
    }

    /// Every object directly under the prefix, by file name.
    fn objects(&self) -> Result<BTreeMap<String, (u64, DateTime<Utc>)>> {
        let listed = self.run(
            &format!("listing {}", self.url),
            self.store.list_with_delimiter(self.prefix.as_ref()),
        )?;
        Ok(listed
            .objects
            .into_iter()
            .filter_map(|o| {
                let name = o.location.filename()?.to_string();
                Some((name, (o.size, o.last_modified)))
            })
            .collect())
    }

    /// Uploads one file in parts, streaming it from disk.
    fn upload(&self, file: &Path, file_name: &str, reporter: &Reporter) -> Result<()> {
        let key = self.key(file_name);
        let target = self.url_of(file_name);
        let mut attributes = Attributes::new();
        if let Some(class) = &self.storage_class {
            attributes.insert(Attribute::StorageClass, class.clone().into());
        }
        let what = format!("uploading {} to {}", file.display(), target.display());
        let mut upload = self.run(
            &what,
            self.store.put_multipart_opts(
                &key,
                PutMultipartOptions {
                    attributes,
                    ..Default::default()
                },
            ),
        )?;
        let result = (|| -> Result<()> {
            let mut source = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
            let total = source.metadata().map(|m| m.len()).unwrap_or(0);
            let part_size = PART_SIZE.max(total.div_ceil(MAX_PARTS));
            let mut sent = 0u64;
            let mut parts = 0;
            loop {
                crate::cancel::check()?;
                let mut part = Vec::with_capacity(part_size as usize);
                (&mut source)
                    .take(part_size)
                    .read_to_end(&mut part)
                    .with_context(|| format!("reading {}", file.display()))?;
                // An empty file still needs one (empty) part; after the
                // first, an empty read is the end.
                if part.is_empty() && parts > 0 {
                    break;
                }
                let len = part.len();
                self.run(&what, upload.put_part(PutPayload::from(part)))?;
                parts += 1;
                sent += len as u64;
                reporter.log(&format!(
                    "uploaded part {parts} of {file_name} ({sent} of {total} bytes)"
                ));
                if (len as u64) < part_size {
                    break;
                }
            }
            self.run(&what, upload.complete())?;
            Ok(())
        })();
        if result.is_err() {
            // Parts already sent are billed until the upload is aborted;
            // after a signal, abort still runs (the runtime is ours).
            let _ = self.runtime.block_on(upload.abort());
        }
        result
    }

    fn put_small(&self, file_name: &str, bytes: Vec<u8>) -> Result<()> {
        let target = self.url_of(file_name);
        self.run(
            &format!("uploading {}", target.display()),
            self.store.put(&self.key(file_name), PutPayload::from(bytes)),
        )?;
        Ok(())
    }

    fn delete(&self, file_name: &str) -> Result<()> {
        let target = self.url_of(file_name);
        self.run(
            &format!("removing {}", target.display()),
            self.store.delete(&self.key(file_name)),
        )
    }

    /// The record beside a set, when it is about this very set: not older
    /// than the tar and, for a pass, naming the sidecar's SHA-256.
    fn record(
        &self,
        file_name: &str,
        objects: &BTreeMap<String, (u64, DateTime<Utc>)>,
        tar_time: DateTime<Utc>,
    ) -> Option<VerifiedRecord> {
        let record_name = format!("{file_name}.verified.json");
        let (_, record_time) = objects.get(&record_name)?;
        if *record_time < tar_time {
            return None;
        }
        let bytes = self.read_small(&record_name).ok()??;
        let record: VerifiedRecord = serde_json::from_slice(&bytes).ok()?;
        if record.passed {
            let sidecar = super::read_sidecar(self, file_name).ok()?;
            if !sidecar.eq_ignore_ascii_case(&record.sha256) {
                return None;
            }
        }
        Some(record)
    }
}

impl Store for S3Store {
    fn location(&self) -> String {
        self.url.clone()
    }

    fn probe(&self) -> Result<()> {
        self.objects().map(|_| ())
    }

    fn list(&self) -> Result<Vec<SetEntry>> {
        let objects = self.objects()?;
        let mut sets = Vec::new();
        for (file_name, (size, modified)) in &objects {
            let Some(name) = SetName::parse(file_name) else {
                continue;
            };
            let sidecar = objects.get(&format!("{file_name}.sha256"));
            let Some((sidecar_size, _)) = sidecar else {
                // Still being uploaded, or left by an upload that stopped.
                continue;
            };
            let companion = |suffix: &str| {
                objects
                    .get(&format!("{file_name}{suffix}"))
                    .map(|(s, _)| *s)
                    .unwrap_or(0)
            };
            let record_size = companion(".verified.json") + companion(".README");
            sets.push(SetEntry {
                path: self.url_of(file_name),
                file_name: file_name.clone(),
                verified: self.record(file_name, &objects, *modified),
                name,
                size: *size,
                has_sidecar: true,
                stored_bytes: size + sidecar_size + record_size,
            });
        }
        sets.sort_by(|a, b| a.name.time.cmp(&b.name.time).then(a.file_name.cmp(&b.file_name)));
        Ok(sets)
    }

    fn read_range(&self, file_name: &str, range: Range<u64>) -> Result<Vec<u8>> {
        let target = self.url_of(file_name);
        let bytes = self.run(
            &format!("reading {}", target.display()),
            self.store.get_range(&self.key(file_name), range),
        )?;
        Ok(bytes.to_vec())
    }

    fn read_small(&self, file_name: &str) -> Result<Option<Vec<u8>>> {
        let target = self.url_of(file_name);
        let what = format!("reading {}", target.display());
        let got = self.runtime.block_on(until_cancelled(async {
            let got = self.store.get(&self.key(file_name)).await?;
            if got.meta.size > super::MAX_SMALL_FILE {
                return Ok(Err(got.meta.size));
            }
            got.bytes().await.map(Ok)
        }))?;
        match got {
            Ok(Ok(bytes)) => Ok(Some(bytes.to_vec())),
            Ok(Err(size)) => bail!("{} is implausibly large ({size} bytes)", target.display()),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.explain(e, &what)),
        }
    }

    fn open(&self, entry: &SetEntry, scratch: &Path, reporter: &Reporter) -> Result<PathBuf> {
        let expected = super::read_sidecar(self, &entry.file_name)?;
        let local = scratch.join(&entry.file_name);
        reporter.info(&format!("downloading {} ({} bytes)", entry.path.display(), entry.size));
        let what = format!("downloading {}", entry.path.display());
        let file = crate::fsutil::create_private_new(&local)?;
        let mut out = HashingWriter::new(std::io::BufWriter::with_capacity(1 << 20, file));
        let written: Result<()> = self.runtime.block_on(until_cancelled(async {
            let got = self
                .store
                .get(&self.key(&entry.file_name))
                .await
                .map_err(|e| self.explain(e, &what))?;
            let mut stream = got.into_stream();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| self.explain(e, &what))?;
                out.write_all(&chunk)
                    .with_context(|| crate::fsutil::write_hint(&local))?;
            }
            Ok(())
        }))?;
        written?;
        let (buf, sha256, _) = out.finish();
        buf.into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| crate::fsutil::write_hint(&local))?;
        if sha256 != expected {
            bail!(
                "{} does not match its .sha256 (expected {expected}, got {sha256}): the stored set or its download is damaged",
                entry.path.display()
            );
        }
        // Beside the copy, so the checks that read the sidecar find it.
        crate::fsutil::write_private(
            &checksum::sidecar_path(&local),
            checksum::sidecar_line(&sha256, &entry.file_name).as_bytes(),
        )?;
        Ok(local)
    }

    fn put_set(&self, set: &Path, reporter: &Reporter) -> Result<PathBuf> {
        let file_name = set
            .file_name()
            .with_context(|| format!("{} has no file name", set.display()))?
            .to_string_lossy()
            .into_owned();
        let sidecar = checksum::sidecar_path(set);
        let sidecar_bytes = std::fs::read(&sidecar)
            .with_context(|| format!("reading {} (a set is uploaded with its sidecar)", sidecar.display()))?;
        reporter.info(&format!("uploading {file_name} to {}", self.url));
        self.upload(set, &file_name, reporter)?;
        let record = super::local::verified_path(set);
        if record.exists() {
            self.put_record(&file_name, &record)?;
        }
        // An encrypted set travels with the note that says how to open it.
        let readme = crate::archive::crypt::readme_path(set);
        if readme.exists() {
            let bytes = std::fs::read(&readme).with_context(|| format!("reading {}", readme.display()))?;
            self.put_small(&format!("{file_name}.README"), bytes)?;
        }
        // Last: the sidecar is what makes the set visible.
        self.put_small(&format!("{file_name}.sha256"), sidecar_bytes)?;
        let target = self.url_of(&file_name);
        reporter.info(&format!("uploaded {}", target.display()));
        Ok(target)
    }

    fn put_record(&self, set_file: &str, record: &Path) -> Result<()> {
        let bytes = std::fs::read(record).with_context(|| format!("reading {}", record.display()))?;
        self.put_small(&format!("{set_file}.verified.json"), bytes)
    }

    fn remove_set(&self, entry: &SetEntry) -> Result<u64> {
        // The sidecar first: from then on the set is no longer listed,
        // whatever happens to the rest.
        let mut freed = 0;
        let objects = self.objects()?;
        for file in [
            format!("{}.sha256", entry.file_name),
            entry.file_name.clone(),
            format!("{}.verified.json", entry.file_name),
            format!("{}.README", entry.file_name),
        ] {
            if let Some((size, _)) = objects.get(&file) {
                self.delete(&file)?;
                freed += size;
            }
        }
        Ok(freed)
    }

    fn leftovers(&self) -> Result<Vec<(String, PathBuf)>> {
        let objects = self.objects()?;
        let now = Utc::now();
        let mut out = Vec::new();
        for (file_name, (_, modified)) in &objects {
            let set_file = file_name
                .strip_suffix(".sha256")
                .or_else(|| file_name.strip_suffix(".verified.json"))
                .or_else(|| file_name.strip_suffix(".README"));
            let leftover = match set_file {
                // A sidecar or record whose set is gone.
                Some(set_file) => SetName::parse(set_file).filter(|_| !objects.contains_key(set_file)),
                // A set whose sidecar never came, once no upload can still
                // be on its way.
                None => SetName::parse(file_name).filter(|_| {
                    !objects.contains_key(&format!("{file_name}.sha256")) && now - *modified > LEFTOVER_AGE
                }),
            };
            if let Some(name) = leftover {
                out.push((name.set, self.url_of(file_name)));
            }
        }
        Ok(out)
    }

    fn remove_leftover(&self, leftover: &Path) -> bool {
        let Some(file_name) = leftover.file_name() else {
            return false;
        };
        self.delete(&file_name.to_string_lossy()).is_ok()
    }
}
