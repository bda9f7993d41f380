"""The stand-in's upload, as actions/upload-artifact v4 makes it: the files
zipped with their common directory as the root (stored at compression level
0), sent to the runner's artifact service (act's artifact server, started by
`act --artifact-server-path`) through its v4 Twirp calls, and answered with
the artifact's id and the zip's SHA-256. The same files are also copied to
$LIFEBOAT_TEST_ARTIFACTS/<name>/, where the tests read them directly."""

import base64
import hashlib
import io
import json
import os
import shutil
import sys
import urllib.request
import zipfile

SERVICE = "twirp/github.actions.results.api.v1.ArtifactService"


def twirp(method, body):
    base = os.environ["ACTIONS_RESULTS_URL"].rstrip("/")
    request = urllib.request.Request(
        f"{base}/{SERVICE}/{method}",
        data=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json",
            "Authorization": "Bearer " + os.environ["ACTIONS_RUNTIME_TOKEN"],
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


def backend_ids():
    # The runtime token's scope names the run and job: Actions.Results:<run>:<job>.
    payload = os.environ["ACTIONS_RUNTIME_TOKEN"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    scope = next(s for s in claims["scp"].split() if s.startswith("Actions.Results:"))
    _, run, job = scope.split(":")
    return run, job


def main():
    name = os.environ["NAME"]
    files = [f for f in os.environ["FILES"].splitlines() if f.strip()]
    missing = [f for f in files if not os.path.isfile(f)]
    # As upload-artifact v4: a path that matches no file adds nothing, and
    # only finding no file at all is an error (an unencrypted set has no
    # .README beside it).
    if missing and len(missing) == len(files) and os.environ.get("IF_NO_FILES_FOUND") == "error":
        print(f"::error::No files were found with the provided path: {' '.join(missing)}")
        sys.exit(1)
    files = [f for f in files if f not in missing]
    root = os.path.commonpath([os.path.dirname(os.path.abspath(f)) for f in files])
    level = int(os.environ.get("LEVEL") or "6")
    buffer = io.BytesIO()
    method = zipfile.ZIP_STORED if level == 0 else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(buffer, "w", method) as z:
        for f in files:
            z.write(f, os.path.relpath(os.path.abspath(f), root))
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()

    run, job = backend_ids()
    ids = {"workflowRunBackendId": run, "workflowJobRunBackendId": job}
    created = twirp("CreateArtifact", {**ids, "name": name, "version": 4})
    upload = urllib.request.Request(
        created["signedUploadUrl"] + "&comp=block", data=data, method="PUT"
    )
    urllib.request.urlopen(upload, timeout=60).close()
    done = twirp(
        "FinalizeArtifact",
        {**ids, "name": name, "size": str(len(data)), "hash": f"sha256:{digest}"},
    )

    copy = os.path.join(os.environ["LIFEBOAT_TEST_ARTIFACTS"], name)
    os.makedirs(copy, exist_ok=True)
    for f in files:
        shutil.copy(f, copy)
    with open(os.path.join(copy, ".upload-settings"), "w") as settings:
        settings.write(f"retention={os.environ['RETENTION']}\nlevel={level}\n")

    artifact_id = done["artifactId"]
    repo = os.environ.get("GITHUB_REPOSITORY", "o/r")
    run_id = os.environ.get("GITHUB_RUN_ID", run)
    with open(os.environ["GITHUB_OUTPUT"], "a") as out:
        out.write(f"artifact-id={artifact_id}\n")
        out.write(f"artifact-url=https://github.com/{repo}/actions/runs/{run_id}/artifacts/{artifact_id}\n")
        out.write(f"artifact-digest={digest}\n")
    print(f"Artifact {name} ({len(data)} bytes, sha256 {digest}) uploaded with id {artifact_id}")


main()
