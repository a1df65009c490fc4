// The page's side: IndexedDB for the database image, the UI, the sync
// loop and the SSE feed. The cart itself runs in Go (app.wasm).
"use strict";

const idbOpen = () => new Promise((resolve, reject) => {
  const req = indexedDB.open("emmett", 1);
  req.onupgradeneeded = () => req.result.createObjectStore("files");
  req.onsuccess = () => resolve(req.result);
  req.onerror = () => reject(req.error);
});
window.emmettIDBGet = async (key) => {
  const db = await idbOpen();
  return new Promise((resolve, reject) => {
    const req = db.transaction("files").objectStore("files").get(key);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
};
window.emmettIDBPut = async (key, bytes) => {
  const db = await idbOpen();
  return new Promise((resolve, reject) => {
    const tx = db.transaction("files", "readwrite");
    tx.objectStore("files").put(bytes, key);
    tx.oncomplete = () => resolve(true); // durable before the command returns
    tx.onerror = () => reject(tx.error);
  });
};

if (!localStorage.getItem("emmettClientId")) {
  localStorage.setItem("emmettClientId", "web-" + Math.random().toString(36).slice(2, 10));
}
const $ = (id) => document.getElementById(id);
const coldStart = performance.now();

async function render() {
  const v = JSON.parse(await emmettCart.view());
  v.pending = v.pending || [];
  $("client").textContent = v.clientId;
  $("pendingCount").textContent = v.pending.length;
  const online = navigator.onLine && v.online !== false;
  $("status").textContent = navigator.onLine ? "online" : "offline";
  $("status").className = "status " + (navigator.onLine ? "online" : "offline");
  const body = $("cart").querySelector("tbody");
  body.innerHTML = "";
  const cart = v.cart;
  $("cartId").textContent = cart ? cart.id : "";
  $("cartStatus").textContent = cart ? "(" + cart.status + ")" : "(empty)";
  $("count").textContent = cart ? cart.productItemsCount : 0;
  $("total").textContent = cart ? cart.totalAmount : 0;
  $("currency").textContent = cart ? cart.currency : "";
  for (const item of (cart && cart.productItems) || []) {
    const tr = document.createElement("tr");
    tr.className = "item";
    tr.dataset.product = item.productId;
    tr.innerHTML = `<td>${item.productId}</td><td class="qty">${item.quantity}</td><td>${item.unitPrice.amount} ${item.unitPrice.currency}</td><td><button>Remove one</button></td>`;
    tr.querySelector("button").onclick = () => act(() => emmettCart.remove(item.productId, 1, item.unitPrice.amount, item.unitPrice.currency));
    body.appendChild(tr);
  }
  const list = (id, items, f) => { const ul = $(id); ul.innerHTML = ""; for (const x of items || []) { const li = document.createElement("li"); li.textContent = f(x); ul.appendChild(li); } };
  list("conflicts", v.conflicts, (c) => c);
  list("events", v.events, (e) => `${e.stream}@${e.position} ${e.type} ${JSON.stringify(e.data)}`);
  list("server", v.serverEvents, (e) => `${e.streamName}@${e.streamPosition} ${e.type}`);
  document.body.dataset.pending = v.pending.length;
  document.body.dataset.ready = "true";
}

async function act(f) {
  $("error").textContent = "";
  try { await f(); } catch (e) { $("error").textContent = e.message; }
  await render();
  syncNow();
}

let syncing = false;
async function syncNow() {
  if (syncing || !navigator.onLine) return;
  syncing = true;
  try { await emmettCart.sync(); } catch (e) { $("error").textContent = e.message; }
  finally { syncing = false; }
  await render();
}

// The feed of the carts' events resumes after the last one the page saw
// (kept across reloads; EventSource sends it as Last-Event-ID when it
// reconnects by itself), from the start of the log the first time.
let feed;
function openFeed() {
  if (feed && feed.readyState !== EventSource.CLOSED) return;
  const after = localStorage.getItem("emmettFeedAfter");
  feed = new EventSource("/events/categories/shopping_cart/live" + (after ? "?after=" + encodeURIComponent(after) : ""));
  feed.onmessage = async (m) => {
    await emmettCart.serverEvent(m.data);
    if (m.lastEventId) localStorage.setItem("emmettFeedAfter", m.lastEventId);
    await render();
  };
}

window.emmettFailed = (msg) => { $("status").textContent = "failed: " + msg; };
window.emmettReady = async () => {
  $("started").textContent = Math.round(performance.now() - coldStart);
  $("addForm").onsubmit = (e) => { e.preventDefault(); act(() => emmettCart.add($("product").value, parseInt($("quantity").value, 10))); };
  $("confirm").onclick = () => act(() => emmettCart.confirm());
  window.addEventListener("online", () => { openFeed(); syncNow(); });
  window.addEventListener("offline", () => render());
  setInterval(syncNow, 1000);
  openFeed();
  await render();
  syncNow();
};

const go = new Go();
WebAssembly.instantiateStreaming(fetch("app.wasm"), go.importObject)
  .then((r) => go.run(r.instance))
  .catch((e) => { $("status").textContent = "failed: " + e; });
