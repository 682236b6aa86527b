// The admin pages' one script (served from the package; the CSP allows no other and no inline
// script). It does what plain forms cannot: read a set-up link's token from the fragment,
// passkeys (WebAuthn), the live audit feed, and confirmations. Everything shown is set as text.
"use strict";

const csrf = () => (document.querySelector('meta[name="csrf"]') || {}).content || "";

function b64urlToBytes(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

function bytesToB64url(buffer) {
  let s = "";
  for (const b of new Uint8Array(buffer)) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

async function postJSON(url, body) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf() },
    body: JSON.stringify(body || {}),
  });
  let data = {};
  try { data = await response.json(); } catch (e) { data = {}; }
  if (!response.ok) throw new Error(data.message || "Request failed (" + response.status + ")");
  return data;
}

function showError(text) {
  const box = document.querySelector("[data-passkey-error]");
  if (box) { box.textContent = text; box.hidden = false; }
}

// --- set-up link: the token is after '#', never sent to the server by the browser ---
async function setup(box) {
  const status = box.querySelector("[data-setup-status]");
  const token = location.hash.slice(1);
  history.replaceState(null, "", location.pathname);  // out of the address bar and history
  if (!token) { status.textContent = "This page needs the whole set-up link, including the part after #."; return; }
  try {
    const reply = await postJSON("/admin/setup/start", { token });
    location.assign(reply.next);
  } catch (e) {
    status.textContent = e.message;
    status.className = "error";
  }
}

// --- passkeys ---
function creationOptions(o) {
  o.challenge = b64urlToBytes(o.challenge);
  o.user.id = b64urlToBytes(o.user.id);
  (o.excludeCredentials || []).forEach((c) => { c.id = b64urlToBytes(c.id); });
  return o;
}

function requestOptions(o) {
  o.challenge = b64urlToBytes(o.challenge);
  (o.allowCredentials || []).forEach((c) => { c.id = b64urlToBytes(c.id); });
  return o;
}

async function registerPasskey(button) {
  const labelInput = document.querySelector("[data-passkey-label]");
  button.disabled = true;
  try {
    if (!window.PublicKeyCredential) throw new Error("This browser cannot use passkeys here.");
    const options = creationOptions(await postJSON("/admin/passkeys/options"));
    const credential = await navigator.credentials.create({ publicKey: options });
    const r = credential.response;
    const payload = {
      id: credential.id, rawId: bytesToB64url(credential.rawId), type: credential.type,
      response: {
        clientDataJSON: bytesToB64url(r.clientDataJSON), attestationObject: bytesToB64url(r.attestationObject),
        transports: r.getTransports ? r.getTransports() : [],
      },
      clientExtensionResults: credential.getClientExtensionResults(),
    };
    const saved = await postJSON("/admin/passkeys", { credential: payload, label: labelInput ? labelInput.value : "" });
    const list = document.querySelector("[data-passkey-list]");
    if (list) {
      const item = document.createElement("li");
      item.textContent = saved.label + " (added)";
      list.appendChild(item);
    }
    const finish = document.querySelector("[data-setup-finish]");
    if (finish) finish.textContent = "Done";
    button.textContent = "Add another passkey";
  } catch (e) {
    showError(e.message || String(e));
  } finally {
    button.disabled = false;
  }
}

async function passkeyLogin(button) {
  button.disabled = true;
  try {
    if (!window.PublicKeyCredential) throw new Error("This browser cannot use passkeys here.");
    const options = requestOptions(await postJSON("/admin/login/passkey/options"));
    const credential = await navigator.credentials.get({ publicKey: options });
    const r = credential.response;
    const payload = {
      id: credential.id, rawId: bytesToB64url(credential.rawId), type: credential.type,
      response: {
        clientDataJSON: bytesToB64url(r.clientDataJSON), authenticatorData: bytesToB64url(r.authenticatorData),
        signature: bytesToB64url(r.signature), userHandle: r.userHandle ? bytesToB64url(r.userHandle) : null,
      },
      clientExtensionResults: credential.getClientExtensionResults(),
    };
    const reply = await postJSON("/admin/login/passkey", { credential: payload });
    location.assign(reply.next);
  } catch (e) {
    showError(e.message || String(e));
    button.disabled = false;
  }
}

// --- live audit feed ---
const COLUMNS = ["at", "event", "outcome", "door", "person", "action", "reason", "actor"];

function liveFeed(table) {
  const status = document.querySelector("[data-live-status]");
  const names = { door: {}, person: {} };
  document.querySelectorAll('select[name="door"] option, select[name="person"] option').forEach((o) => {
    if (o.value) names[o.parentElement.name][o.value] = o.textContent;
  });
  const source = new EventSource(table.dataset.live);
  source.onopen = () => { if (status) status.textContent = "Live feed: on"; };
  source.onerror = () => { if (status) status.textContent = "Live feed: reconnecting…"; };
  source.onmessage = (message) => {
    let e;
    try { e = JSON.parse(message.data); } catch (err) { return; }
    const row = document.createElement("tr");
    row.className = "fresh outcome-" + (e.outcome || "");
    row.dataset.liveEvent = e.event || "";
    for (const column of COLUMNS) {
      const cell = document.createElement("td");
      let value = e[column];
      if (column === "at" && value) value = value.replace("T", " ").slice(0, 19);
      if ((column === "door") && value) value = names.door[value] || value;
      if ((column === "person" || column === "actor") && value) value = names.person[value] || value;
      cell.textContent = value === null || value === undefined || value === "" ? "–" : String(value);
      row.appendChild(cell);
    }
    const body = table.tBodies[0];
    const empty = body.querySelector(".empty-row");
    if (empty) empty.remove();
    body.insertBefore(row, body.firstChild);
  };
}

document.addEventListener("DOMContentLoaded", () => {
  const setupBox = document.querySelector("[data-setup]");
  if (setupBox) setup(setupBox);
  const register = document.querySelector("[data-passkey-register]");
  if (register) register.addEventListener("click", () => registerPasskey(register));
  const login = document.querySelector("[data-passkey-login]");
  if (login) login.addEventListener("click", () => passkeyLogin(login));
  const table = document.querySelector("table[data-live]");
  if (table && window.EventSource) liveFeed(table);
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => { if (!confirm(form.dataset.confirm)) event.preventDefault(); });
  });
});
