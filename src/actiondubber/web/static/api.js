// Calls to the actiondubber server. Every error comes back as {error: "..."} (one line for the user).

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error || `HTTP ${status}`);
    this.status = status; this.body = body || {};
  }
}

async function parse(res) {
  let body = null;
  try { body = await res.json(); } catch { body = null; }
  if (!res.ok) throw new ApiError(res.status, body);
  return body;
}

export async function get(path, params = {}) {
  const q = new URLSearchParams(params).toString();
  return parse(await fetch(q ? `${path}?${q}` : path));
}

export async function post(path, body, { signal } = {}) {
  return parse(await fetch(path, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), signal,
  }));
}

// Follow a job's server-sent events until it ends; onProgress(job) on each update. Resolves with the last state.
export function follow(jobId, onProgress) {
  return new Promise((resolve, reject) => {
    const es = new EventSource(`/api/jobs/${encodeURIComponent(jobId)}/stream`);
    es.onmessage = (m) => {
      const job = JSON.parse(m.data);
      onProgress?.(job);
      if (job.state === "done") { es.close(); resolve(job); }
      else if (job.state === "error") { es.close(); reject(new ApiError(500, { error: job.message })); }
    };
    es.onerror = () => {
      // the stream ends after the last message; ask once for the final state
      es.close();
      get(`/api/jobs/${encodeURIComponent(jobId)}`).then((job) => {
        if (job.state === "done") resolve(job);
        else if (job.state === "error") reject(new ApiError(500, { error: job.message }));
        else follow(jobId, onProgress).then(resolve, reject);
      }, reject);
    };
  });
}

// Upload a file as the request body (with upload progress); resolves with the server's answer.
export function upload(file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/api/upload?name=${encodeURIComponent(file.name)}`);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress?.(e.loaded, e.total); };
    xhr.onload = () => {
      let body = null; try { body = JSON.parse(xhr.responseText); } catch { body = null; }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body); else reject(new ApiError(xhr.status, body));
    };
    xhr.onerror = () => reject(new ApiError(0, { error: "upload failed (connection lost)" }));
    xhr.send(file);
  });
}
