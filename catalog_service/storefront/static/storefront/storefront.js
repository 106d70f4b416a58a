// The storefront's one script (docs/storefront.md, ADR 0075). No framework, no build step.
//
// * Product data: persisted-query GETs to /graphql (Apollo APQ: hash first, the query text
//   by POST only when the server does not know it), so browsing stays cacheable at the edge.
// * The cart and orders: the order API under /api/, same origin, with the session cookie,
//   never cached. Unsafe requests carry X-CSRFToken from the csrftoken cookie (order API CSRF).
// * 429, 503 and lost connections are retried after Retry-After plus jitter, showing a calm
//   "retrying in N s"; a checkout keeps one Idempotency-Key (sessionStorage) for all retries
//   of one attempt, so a retried click never makes two orders.
// * The waiting room (ADR 0110): the rooms from GET /queue/rooms (public, edge-cached), a
//   queue page that joins once and then follows the room's shared status document (also
//   edge-cached), takes the pass when admitted and goes back to ?next=. A 403 QUEUE_REQUIRED
//   or ACCOUNT_REQUIRED from the cart or checkout sends the shopper to the queue or sign-in.
// * The account: sign in, sign up, "my orders"; the header shows the account's name, asked
//   once per tab (sessionStorage) and only by a browser that has talked to the API before.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const QUERIES = JSON.parse($("storefront-queries").textContent);
  const CHECKOUT_KEY = "storefront.checkout-key";
  const CART_COUNT = "storefront.cart-count";
  const ACCOUNT = "storefront.account";
  const PASS_NOTE = "storefront.pass.";  // + room slug: the pass's expiry (the cookie is HttpOnly)
  const DEFAULT_MAX_QUANTITY = 10;
  const NUMBER = new Intl.NumberFormat("en", {minimumFractionDigits: 2, maximumFractionDigits: 2});

  // --- small helpers ------------------------------------------------------------------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children.flat(Infinity)) {
      if (child !== null && child !== undefined && child !== false) node.append(child);
    }
    return node;
  }

  // "40.00 EUR": the amount, a no-break space, the currency code.
  function money(amount, currency) {
    return NUMBER.format(Number(amount)) + "\u00a0" + currency;
  }

  function announce(text) {
    const region = $("announcer");
    region.textContent = "";
    window.setTimeout(() => { region.textContent = text; }, 60);
  }

  function say(node, text, kind) {
    node.className = "notice" + (kind ? " " + kind : "");
    node.textContent = text;
  }

  function uuid4() {
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  function cookie(name) {
    const m = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return m ? decodeURIComponent(m[1]) : null;
  }

  function sleep(ms) { return new Promise((resolve) => window.setTimeout(resolve, ms)); }

  function duration(ms) {
    let s = Math.max(0, Math.floor(ms / 1000));
    const d = Math.floor(s / 86400); s -= d * 86400;
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    if (d) return `${d} d ${h} h`;
    if (h) return `${h} h ${String(m).padStart(2, "0")} min`;
    return `${m} min ${String(s).padStart(2, "0")} s`;
  }

  // --- product data: Apollo APQ over GET ------------------------------------------------
  async function graphql(name, variables) {
    const {hash, query} = QUERIES[name];
    const extensions = {persistedQuery: {version: 1, sha256Hash: hash}};
    const url = "/graphql?" + new URLSearchParams({
      extensions: JSON.stringify(extensions), variables: JSON.stringify(variables),
    });
    // credentials "omit": product data is the same for everybody, and a request without
    // the session cookie is one the edge may answer from its micro-cache (ADR 0041 bypasses
    // the cache for any request that carries it).
    const get = () => fetch(url, {headers: {Accept: "application/json"}, credentials: "omit"});
    let body = await (await get()).json();
    if ((body.errors || []).some((e) => e.message === "PersistedQueryNotFound")) {
      body = await (await fetch("/graphql", {
        method: "POST",
        headers: {"Content-Type": "application/json", Accept: "application/json"},
        body: JSON.stringify({query, variables, extensions}),
        credentials: "omit",
      })).json();
    }
    if (body.errors && !body.data) throw new Error(body.errors.map((e) => e.message).join("; "));
    return body.data;
  }

  // --- personal data: the order API --------------------------------------------------------
  async function api(method, path, {body, headers} = {}) {
    const sent = {Accept: "application/json", ...(headers || {})};
    if (body !== undefined) sent["Content-Type"] = "application/json";
    if (!["GET", "HEAD", "OPTIONS"].includes(method)) {
      // The order API's CSRF check: the token from its cookie, which any GET of the API
      // hands out (fetched once here for a shopper who has not been to the cart yet).
      if (!cookie("csrftoken")) {
        try { await fetch("/api/cart", {credentials: "same-origin", cache: "no-store"}); } catch (err) { /* answered below */ }
      }
      const token = cookie("csrftoken");
      if (token) sent["X-CSRFToken"] = token;
    }
    let response;
    try {
      response = await fetch(path, {
        method, headers: sent, credentials: "same-origin", cache: "no-store",
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      return {status: 0, body: {code: "NETWORK"}, retryAfter: 2};
    }
    let data = {};
    try { data = await response.json(); } catch (err) { data = {}; }
    const retryAfter = Number(response.headers.get("Retry-After") || data.retry_after || 0);
    return {status: response.status, body: data || {}, retryAfter};
  }

  function retryable(r) {
    // LOCKED_OUT (sign-in throttling) is a 429 too, but retrying it only extends the lock.
    if (r.status === 429 && r.body.code === "LOCKED_OUT") return false;
    return r.status === 0 || r.status === 429 || r.status === 502 || r.status === 503 ||
      r.status === 504 || (r.status === 409 && r.body.code === "IDEMPOTENCY_KEY_IN_USE");
  }

  function waitingText(seconds, r) {
    if (r.status === 429) return `High demand right now: retrying in ${seconds} s. Nothing is lost.`;
    if (r.status === 0) return `The connection dropped: retrying in ${seconds} s. Nothing is lost.`;
    if (r.body.code === "IDEMPOTENCY_KEY_IN_USE") return `Still placing your order: checking again in ${seconds} s.`;
    return `Availability is being refreshed: retrying in ${seconds} s. Nothing is lost.`;
  }

  // Call until the answer is not worth retrying; between tries wait Retry-After (at least
  // 1 s) plus up to a second of jitter, so a crowd told "1 s" does not come back at once.
  async function withRetries(call, onWait, attempts = 15) {
    for (let attempt = 1; ; attempt++) {
      const r = await call();
      if (!retryable(r) || attempt >= attempts) return r;
      const wait = Math.max(1, r.retryAfter || 1) * 1000 + Math.random() * 1000;
      const until = Date.now() + wait;
      while (Date.now() < until) {
        onWait(Math.ceil((until - Date.now()) / 1000), r);
        await sleep(Math.min(1000, until - Date.now()));
      }
    }
  }

  const SENTENCES = {
    SOLD_OUT: () => "Sorry, this product has just sold out.",
    LIMIT_EXCEEDED: (d) => `You can buy at most ${d.limit} of this product in this sale` +
      (d.already_bought ? `, and you already have ${d.already_bought}.` : "."),
    SALE_NOT_ACTIVE: () => "This product is not on sale right now.",
    UNKNOWN_SKU: () => "This product is no longer sold.",
    INVALID_QUANTITY: () => "Please choose a quantity of at least 1.",
    CART_EMPTY: () => "Your cart is empty.",
    CART_FULL: (d) => `Your cart holds ${d.limit} different products at most: remove one to add another.`,
    MIXED_CURRENCY: () => "Products priced in different currencies have to be ordered separately.",
    NOT_IN_CART: () => "That product is no longer in your cart.",
    ORDER_NOT_FOUND: () => "We could not find this order. It may have been placed from another browser.",
    IDEMPOTENCY_KEY_REUSED: () => "Your cart changed while the order was being placed. Please place it again.",
    IDEMPOTENCY_KEY_IN_USE: () => "Your order is still being placed. Please wait a moment.",
    STOCK_UNAVAILABLE: () => "Availability is being refreshed. Please try again in a few seconds.",
    RATE_LIMITED: () => "It is very busy right now. Please try again in a moment.",
    rate_limited: () => "It is very busy right now. Please try again in a moment.",
    NETWORK: () => "We could not reach the shop. Check your connection and try again.",
    QUEUE_REQUIRED: () => "This sale has a waiting room: taking you to the queue…",
    ACCOUNT_REQUIRED: () => "This sale is for shoppers with an account: taking you to sign in…",
    QUEUE_PASS_INVALID: () => "Your pass for this sale is no longer valid. Please join the queue again.",
    INVALID_CREDENTIALS: () => "The email or the password is not right. Please try again.",
    LOCKED_OUT: () => "Too many failed attempts: signing in to this account is locked for a while. Please try again later.",
    NOT_SIGNED_IN: () => "You are not signed in.",
    EMAIL_TAKEN: () => "An account with this email exists already: sign in instead.",
  };

  function sentence(r) {
    const make = SENTENCES[r.body.code];
    if (make) return make(r.body.detail || {});
    if (r.status >= 400 && r.status < 500) return "That did not work. Please reload the page and try again.";
    return "Something went wrong on our side. Please try again in a moment.";
  }

  function setCartCount(count) {
    sessionStorage.setItem(CART_COUNT, String(count));
    showCartCount();
  }

  function showCartCount() {
    const count = Number(sessionStorage.getItem(CART_COUNT) || 0);
    $("cart-link").textContent = count ? `Cart (${count})` : "Cart";
  }

  function countCart(cart) {
    return cart.lines.reduce((n, line) => n + line.quantity, 0);
  }

  // --- where to go next: only paths of this site -------------------------------------------
  // ?next= comes from a URL anyone can write: "//evil.example", "/\\evil.example" or
  // "https://..." would take the shopper to another site, so only a same-origin path is kept.
  function safeNext(raw, fallback) {
    if (!raw || !raw.startsWith("/")) return fallback;
    try {
      const url = new URL(raw, window.location.origin);
      if (url.origin !== window.location.origin) return fallback;
      return url.pathname + url.search + url.hash;
    } catch (err) { return fallback; }
  }

  function here() { return window.location.pathname + window.location.search; }

  function goToQueue(queueUrl, slug, next) {
    const page = safeNext(queueUrl, `/waiting-room/${encodeURIComponent(slug)}`);
    window.location.assign(page.split("?")[0] + "?next=" + encodeURIComponent(next));
  }

  function goToSignIn(next) {
    window.location.assign("/account/signin?next=" + encodeURIComponent(next));
  }

  // A refusal that needs the shopper somewhere else: the room's queue or the sign-in page.
  // True when the page is leaving (the caller shows the sentence meanwhile).
  function sendAway(r, next) {
    if (r.status !== 403) return false;
    // The room is named in the answer's detail (the order API's error shape), or beside it.
    const room = {...r.body, ...(r.body.detail || {})};
    // QUEUE_PASS_INVALID: the answer deleted the bad pass cookie; the queue gives a new one.
    if ((r.body.code === "QUEUE_REQUIRED" || r.body.code === "QUEUE_PASS_INVALID") && room.room) {
      forgetPass(room.room);
      goToQueue(room.queue_url, room.room, next);
      return true;
    }
    if (r.body.code === "ACCOUNT_REQUIRED") {
      forgetAccount();
      goToSignIn(next);
      return true;
    }
    return false;
  }

  // --- the waiting room: rooms, pass notes ---------------------------------------------------
  // Public, shared documents: without cookies (no session is touched) and never from the
  // browser's cache; the edge answers them from its own micro-cache.
  async function publicJson(path) {
    try {
      const response = await fetch(path, {headers: {Accept: "application/json"}, credentials: "omit", cache: "no-store"});
      if (!response.ok) return null;
      return await response.json();
    } catch (err) { return null; }
  }

  // The guarded rooms (not closed) that cover any of these skus; [] when none or unknown
  // (the order service's 403 QUEUE_REQUIRED still sends the shopper to the queue then).
  async function roomsFor(skus) {
    const body = await publicJson("/queue/rooms");
    if (!body || !Array.isArray(body.rooms)) return [];
    return body.rooms.filter((room) => room.state !== "closed" && (room.skus || []).some((sku) => skus.includes(sku)));
  }

  // The pass itself is an HttpOnly cookie the script cannot read; the queue page notes its
  // expiry here so the product and cart pages do not send an admitted shopper back to the
  // queue. A wrong note costs one round trip: the order service's 403 corrects it.
  function notePass(slug, expiresAt) {
    const until = typeof expiresAt === "number" ? expiresAt * 1000 : Date.parse(expiresAt);
    sessionStorage.setItem(PASS_NOTE + slug, String(Number.isFinite(until) ? until : Date.now() + 60000));
  }

  function hasPass(slug) {
    return Number(sessionStorage.getItem(PASS_NOTE + slug) || 0) > Date.now() + 5000;
  }

  function forgetPass(slug) {
    if (slug) sessionStorage.removeItem(PASS_NOTE + slug);
  }

  function needsQueue(rooms) {
    return rooms.find((room) => !hasPass(room.slug)) || null;
  }

  // --- the account in the header ---------------------------------------------------------------
  function readAccount() {
    try { return JSON.parse(sessionStorage.getItem(ACCOUNT) || "null"); } catch (err) { return null; }
  }

  function writeAccount(body) {
    const known = body && body.signed_in !== false && (body.email || body.name)
      ? {signed_in: true, email: body.email || "", name: body.name || ""} : {signed_in: false};
    sessionStorage.setItem(ACCOUNT, JSON.stringify(known));
    showAccountLink(known);
    return known;
  }

  function forgetAccount() { sessionStorage.removeItem(ACCOUNT); }

  function showAccountLink(known) {
    const link = $("account-link");
    if (!link) return;
    if (known && known.signed_in) {
      link.textContent = known.name || known.email;
      link.setAttribute("href", "/account");
    } else {
      link.textContent = "Sign in";
      link.setAttribute("href", "/account/signin");
    }
  }

  // GET /api/account once per tab, and only when this browser has a csrftoken cookie: one
  // that never had one has never called the API, so it cannot be signed in, and the page
  // spends none of the order budget on asking (every /api/ request counts against it).
  async function account({fresh = false} = {}) {
    let known = fresh ? null : readAccount();
    if (!known && (fresh || cookie("csrftoken"))) {
      const r = await withRetries(() => api("GET", "/api/account"), () => {}, 5);
      known = r.status === 200 ? writeAccount(r.body) : null;
    }
    showAccountLink(known);
    return known || {signed_in: false};
  }

  // --- shared product bits -------------------------------------------------------------------
  function stockText(inventory) {
    if (!inventory) return ["Stock unknown", "SOLD_OUT"];
    if (inventory.status === "SOLD_OUT") return ["Sold out", "SOLD_OUT"];
    if (inventory.status === "LOW_STOCK") return [`Only ${inventory.available} left`, "LOW_STOCK"];
    return ["In stock", "IN_STOCK"];
  }

  function priceNodes(p) {
    const sale = p.flashSale;
    if (!sale) return [el("span", {text: money(p.price.amount, p.price.currency)})];
    return [
      el("span", {text: money(sale.price.amount, sale.price.currency)}),
      " ",
      el("span", {class: "was"}, "was ", el("s", {text: money(p.price.amount, p.price.currency)})),
    ];
  }

  function limitText(sale) {
    return sale && sale.perShopperLimit ? `Limit ${sale.perShopperLimit} per shopper` : null;
  }

  // Countdowns: every [data-deadline] element is rewritten once a second (role="timer", so
  // screen readers do not read each tick); the polite announcer says when a sale starts or
  // ends, and the page refreshes its data then.
  const timers = new Map();
  function countdown(sale, upcoming, onDeadline) {
    const deadline = Date.parse(upcoming ? sale.startsAt : sale.endsAt);
    const prefix = upcoming ? "Sale starts in " : "Sale ends in ";
    const node = el("p", {class: "countdown", role: "timer", text: prefix + duration(deadline - Date.now())});
    timers.set(node, {deadline, upcoming, prefix, onDeadline});
    return node;
  }
  window.setInterval(() => {
    for (const [node, timer] of timers) {
      if (!node.isConnected) { timers.delete(node); continue; }
      const left = timer.deadline - Date.now();
      if (left > 0) { node.textContent = timer.prefix + duration(left); continue; }
      timers.delete(node);
      node.textContent = timer.upcoming ? "The sale has started" : "The sale has ended";
      announce(node.textContent);
      if (timer.onDeadline) timer.onDeadline();
    }
  }, 1000);

  function saleNodes(p, onDeadline) {
    if (p.flashSale) return countdown(p.flashSale, false, onDeadline);
    if (p.nextFlashSale) {
      const next = p.nextFlashSale;
      return [countdown(next, true, onDeadline),
        el("p", {class: "limit", text: `Sale price ${money(next.price.amount, next.price.currency)}`})];
    }
    return null;
  }

  // --- the grid (/) ------------------------------------------------------------------------
  async function gridPage() {
    const grid = $("grid");
    const status = $("status");
    const params = new URLSearchParams(window.location.search);
    const variables = {first: Number(grid.dataset.pageSize)};
    if (params.get("after")) variables.after = params.get("after");
    if (params.get("category")) variables.category = params.get("category");
    if (params.get("on_sale") === "1") variables.onSale = true;
    const pageNumber = Math.max(1, Number(params.get("page") || 1));
    const stock = new Map();

    function card(p) {
      const [text, cls] = stockText(p.inventory);
      const stockNode = el("p", {class: "stock " + cls, text});
      stock.set(p.sku, {node: stockNode, name: p.name, text});
      const image = p.images[0];
      return el("li", {class: "card"},
        el("article", {"aria-labelledby": `name-${p.sku}`},
          image ? el("img", {src: image, alt: p.name, width: 320, height: 240, loading: "lazy"}) : null,
          el("h2", {id: `name-${p.sku}`}, el("a", {href: `/products/${p.slug}`, text: p.name})),
          el("p", {class: "muted", text: p.category.name}),
          p.flashSale ? el("span", {class: "deal", text: "Flash sale"}) : null,
          el("p", {class: "price"}, priceNodes(p)),
          limitText(p.flashSale || p.nextFlashSale) ? el("p", {class: "limit", text: limitText(p.flashSale || p.nextFlashSale)}) : null,
          stockNode,
          saleNodes(p, refresh),
          el("p", {class: "muted", text: p.rating.count
            ? `Rated ${p.rating.average.toFixed(1)} out of 5 (${p.rating.count} reviews)` : "No reviews yet"})));
    }

    function categories(list) {
      const select = $("category");
      const current = select.dataset.current;
      if (select.options.length > 1) return;
      for (const c of list) select.append(el("option", {value: c.slug, selected: c.slug === current, text: c.name}));
    }

    function pager(info) {
      const nav = $("pager");
      nav.replaceChildren();
      const base = new URLSearchParams(params);
      base.delete("after"); base.delete("page");
      if (pageNumber > 1) nav.append(el("a", {href: "/?" + base, text: "First page"}));
      nav.append(el("span", {text: `Page ${pageNumber}`}));
      if (info.hasNextPage) {
        const next = new URLSearchParams(base);
        next.set("after", info.endCursor);
        next.set("page", String(pageNumber + 1));
        nav.append(el("a", {href: "/?" + next, rel: "next", text: "Next page"}));
      }
    }

    async function refresh() {
      // The same GET as the first load: the edge answers it from its micro-cache.
      try {
        const data = await graphql("grid", variables);
        for (const edge of data.products.edges) {
          const p = edge.node;
          const known = stock.get(p.sku);
          if (!known) continue;
          const [text, cls] = stockText(p.inventory);
          if (text !== known.text) {
            known.node.textContent = text;
            known.node.className = "stock " + cls;
            known.text = text;
            announce(`${known.name}: ${text}`);
          }
        }
      } catch (err) { /* keep showing what we have; the next refresh tries again */ }
    }

    try {
      const data = await graphql("grid", variables);
      categories(data.categories);
      const edges = data.products.edges;
      grid.replaceChildren(...edges.map((e) => card(e.node)));
      pager(data.products.pageInfo);
      say(status, edges.length ? "" : "No products match these filters.");
      if (!edges.length) status.className = "notice";
      performance.mark("storefront:grid-rendered");
      window.setInterval(refresh, 15000);
    } catch (err) {
      console.error(err);
      say(status, "The products could not be loaded. Please reload the page in a moment.", "error");
    }
  }

  // --- the product page (/products/<slug>) ---------------------------------------------------
  async function productPage() {
    const root = $("product");
    const slug = root.dataset.slug;
    const status = $("status");
    let product;
    try {
      product = (await graphql("product", {slug, reviews: 5})).product;
    } catch (err) {
      console.error(err);
      say(status, "The product could not be loaded. Please reload the page in a moment.", "error");
      return;
    }
    if (!product) { say(status, "This product is no longer sold.", "error"); return; }

    const availability = el("p", {id: "availability", class: "stock", role: "status"});
    const quantity = el("input", {id: "quantity", type: "number", min: 1, value: 1, inputmode: "numeric", name: "quantity"});
    const add = el("button", {type: "submit", text: "Add to cart"});
    const message = el("div", {id: "cart-message", class: "notice", role: "status"});
    const saleBox = el("div");
    const priceBox = el("p", {class: "price"});
    const limitBox = el("p", {class: "limit"});
    let soldOutByCheckout = false;
    let guards = [];
    const roomNote = el("p", {class: "muted", id: "room-note"});

    function show(p) {
      const [text, cls] = stockText(p.inventory);
      const changed = availability.textContent && availability.textContent !== text;
      availability.textContent = text;
      availability.className = "stock " + cls;
      if (changed) announce(`${p.name}: ${text}`);
      priceBox.replaceChildren(...priceNodes(p));
      limitBox.textContent = limitText(p.flashSale || p.nextFlashSale) || "";
      saleBox.replaceChildren(...[saleNodes(p, reload)].flat().filter(Boolean));
      const limit = (p.flashSale && p.flashSale.perShopperLimit) || DEFAULT_MAX_QUANTITY;
      const available = p.inventory ? p.inventory.available : 0;
      const max = Math.max(1, Math.min(limit, available));
      quantity.max = String(max);
      if (Number(quantity.value) > max) quantity.value = String(max);
      const waiting = !p.flashSale && p.nextFlashSale;
      add.disabled = soldOutByCheckout || available < 1 || Boolean(waiting);
      quantity.disabled = add.disabled;
    }

    async function reload() {
      try {
        const fresh = (await graphql("product", {slug, reviews: 0})).product;
        if (fresh) { soldOutByCheckout = false; product = {...product, ...fresh, reviews: product.reviews}; show(product); }
      } catch (err) { /* the next refresh tries again */ }
    }

    async function addToCart(event) {
      event.preventDefault();
      const wanted = Number(quantity.value);
      if (!Number.isInteger(wanted) || wanted < 1 || wanted > Number(quantity.max)) {
        say(message, `Please choose a quantity from 1 to ${quantity.max}.`, "error");
        quantity.focus();
        return;
      }
      const room = needsQueue(guards);
      if (room) {
        // The sale has a waiting room and this tab holds no pass for it: queue first, then
        // come back here (the place in the queue is kept if the shopper returns).
        say(message, SENTENCES.QUEUE_REQUIRED());
        goToQueue(room.queue_url, room.slug, here());
        return;
      }
      add.disabled = true;
      say(message, "Adding to your cart…");
      const r = await withRetries(
        () => api("POST", "/api/cart/items", {body: {sku: product.sku, quantity: wanted}}),
        (seconds, answer) => say(message, waitingText(seconds, answer), "wait"));
      add.disabled = false;
      if (r.status === 201) {
        setCartCount(countCart(r.body));
        message.className = "notice";
        message.replaceChildren(`Added ${wanted} to your cart. `, el("a", {href: "/cart", text: "Go to your cart"}));
        return;
      }
      say(message, sentence(r), "error");
      if (sendAway(r, here())) return;
      if (r.body.code === "SOLD_OUT") { soldOutByCheckout = true; add.disabled = true; quantity.disabled = true; reload(); }
    }

    const reviewsList = el("ul", {class: "reviews"});
    const moreReviews = el("button", {type: "button", class: "secondary", text: "More reviews"});
    let reviewsCursor = null;
    function addReviews(connection) {
      for (const edge of connection.edges) {
        const r = edge.node;
        reviewsList.append(el("li", {},
          el("h3", {text: r.title}),
          el("p", {class: "muted", text: `${r.rating} out of 5 · ${r.author} · ${new Date(r.createdAt).toLocaleDateString("en")}`}),
          el("p", {text: r.body})));
      }
      reviewsCursor = connection.pageInfo.endCursor;
      moreReviews.hidden = !connection.pageInfo.hasNextPage;
    }
    moreReviews.addEventListener("click", async () => {
      moreReviews.disabled = true;
      try {
        const data = await graphql("product", {slug, reviews: 5, after: reviewsCursor});
        const before = reviewsList.children.length;
        addReviews(data.product.reviews);
        announce(`${reviewsList.children.length - before} more reviews shown`);
      } catch (err) {
        announce("More reviews could not be loaded. Please try again.");
      }
      moreReviews.disabled = false;
    });

    const rating = product.rating.count
      ? `Rated ${product.rating.average.toFixed(1)} out of 5 from ${product.rating.count} reviews`
      : "No reviews yet";
    const images = product.images.map((src, i) =>
      el("img", {src, alt: `${product.name}, picture ${i + 1} of ${product.images.length}`, width: 320, height: 240}));
    status.remove();
    root.append(el("div", {class: "product"},
      el("div", {class: "gallery"}, images),
      el("div", {},
        el("p", {class: "muted", text: product.category.name}),
        el("p", {text: rating}),
        product.flashSale ? el("span", {class: "deal", text: "Flash sale"}) : null,
        priceBox, limitBox, availability, saleBox,
        el("form", {class: "buy", onsubmit: addToCart, "aria-label": "Buy", novalidate: true},
          el("div", {}, el("label", {for: "quantity", text: "Quantity"}), quantity),
          add),
        roomNote,
        message,
        el("p", {text: product.description}),
        el("dl", {class: "attrs"}, product.attributes.map((a) => [el("dt", {text: a.name.replace(/_/g, " ")}), el("dd", {text: a.value})])))),
      el("section", {"aria-labelledby": "reviews-heading"},
        el("h2", {id: "reviews-heading", text: `Reviews (${product.rating.count})`}),
        reviewsList, moreReviews));
    show(product);
    addReviews(product.reviews);
    window.setInterval(reload, 5000);
    guards = await roomsFor([product.sku]);
    if (guards.length) {
      roomNote.textContent = needsQueue(guards)
        ? "This sale has a waiting room: Add to cart gives you a place in the queue, and brings you back here when it is your turn."
        : "You are through the waiting room: you can buy this product now.";
    }
  }

  // --- the cart (/cart) and checkout ---------------------------------------------------------
  const PROBLEMS = {
    SOLD_OUT: (line) => line.available > 0
      ? `Only ${line.available} left: lower the quantity to buy it.` : "Sold out: remove it to check out.",
    LIMIT_EXCEEDED: (line) => `Over the limit of ${line.per_shopper_limit} per shopper (counting what you already bought).`,
    SALE_NOT_ACTIVE: () => "The sale for this product is not running now.",
    UNKNOWN_SKU: () => "This product is no longer sold.",
    STOCK_UNAVAILABLE: () => "Availability is being checked: try again in a few seconds.",
    INVALID_QUANTITY: () => "The quantity is not valid.",
  };

  async function cartPage() {
    const root = $("cart");
    const status = $("status");
    const message = el("div", {id: "checkout-message", class: "notice", role: "status", "aria-live": "polite"});
    const place = el("button", {type: "button", text: "Place order"});
    const listBox = el("div");
    const totalBox = el("p", {class: "totals"});
    const blocked = el("p", {class: "muted"});
    let lastSkus = [];
    function render(cart) {
      setCartCount(countCart(cart));
      lastSkus = cart.lines.map((line) => line.sku);
      if (!cart.lines.length) {
        listBox.replaceChildren(el("p", {}, "Your cart is empty. ", el("a", {href: "/", text: "Find a deal"})));
        totalBox.textContent = "";
        // An attempt still in doubt (its answer was lost) may have emptied the cart: placing
        // it again with the same key brings back its confirmation, never a second order.
        place.disabled = !sessionStorage.getItem(CHECKOUT_KEY);
        blocked.textContent = "";
        return;
      }
      const list = el("ul", {class: "lines", "aria-label": "Cart lines"});
      for (const line of cart.lines) list.append(lineNode(line));
      listBox.replaceChildren(list);
      const totals = new Map();
      for (const line of cart.lines) {
        if (line.problem || !line.line_total) continue;
        totals.set(line.currency, (totals.get(line.currency) || 0) + Number(line.line_total));
      }
      totalBox.textContent = "Total: " + ([...totals].map(([c, t]) => money(t, c)).join(" + ") || money(0, "EUR"));
      const problems = cart.lines.filter((line) => line.problem).length;
      place.disabled = problems > 0;
      blocked.textContent = problems ? "Change or remove the lines marked above to check out." : "";
    }

    function lineNode(line) {
      const id = `qty-${line.sku}`;
      const input = el("input", {id, type: "number", min: 1, value: line.quantity, inputmode: "numeric",
        max: line.per_shopper_limit || DEFAULT_MAX_QUANTITY});
      const lineMessage = el("p", {class: "problem", role: "status"});
      if (line.problem) lineMessage.textContent = (PROBLEMS[line.problem] || (() => sentence({status: 409, body: {code: line.problem}})))(line);
      const update = el("button", {type: "submit", class: "secondary", text: "Update", "aria-label": `Update quantity of ${line.name}`});
      const remove = el("button", {type: "button", class: "secondary", text: "Remove", "aria-label": `Remove ${line.name}`});
      const busy = (on) => { update.disabled = on; remove.disabled = on; };
      async function change(method, body) {
        busy(true);
        lineMessage.textContent = "Saving…";
        const r = await withRetries(
          () => api(method, `/api/cart/items/${encodeURIComponent(line.sku)}`, {body}),
          (seconds, answer) => { lineMessage.textContent = waitingText(seconds, answer); });
        busy(false);
        if (r.status === 200) { render(r.body); announce(method === "DELETE" ? `${line.name} removed` : `${line.name}: quantity ${body.quantity}`); return; }
        lineMessage.textContent = sentence(r);  // the typed quantity stays in the field
        sendAway(r, "/cart");
      }
      // novalidate: the order service judges the quantity and the page says why in words
      // (a browser's own bubble is neither announced nor kept).
      const form = el("form", {class: "controls", "aria-label": `Quantity of ${line.name}`, novalidate: true, onsubmit: (e) => {
        e.preventDefault();
        const wanted = Number(input.value);
        if (!Number.isInteger(wanted) || wanted < 1) { lineMessage.textContent = SENTENCES.INVALID_QUANTITY(); input.focus(); return; }
        change("PATCH", {quantity: wanted});
      }}, el("div", {}, el("label", {for: id, text: "Quantity"}), input), update, remove);
      remove.addEventListener("click", () => change("DELETE"));
      const price = line.unit_price ? `${money(line.unit_price, line.currency)} each` : "";
      return el("li", {class: "line", "data-sku": line.sku},
        el("div", {},
          el("h2", {style: "font-size:17px;margin:0", text: line.name || line.sku}),
          el("p", {class: "muted", text: price}),
          lineMessage),
        el("div", {}, line.line_total ? el("p", {class: "price", text: money(line.line_total, line.currency)}) : null, form));
    }

    async function load() {
      const r = await withRetries(() => api("GET", "/api/cart"), (s, answer) => say(status, waitingText(s, answer), "wait"));
      if (r.status !== 200) { say(status, sentence(r), "error"); return false; }
      render(r.body);
      return true;
    }

    async function checkout() {
      place.disabled = true;
      const room = needsQueue(await roomsFor(lastSkus));
      if (room) {
        say(message, SENTENCES.QUEUE_REQUIRED());
        goToQueue(room.queue_url, room.slug, "/cart");
        return;
      }
      // One key per checkout attempt, kept (sessionStorage) across every retry of it, even a
      // reload: the server answers a repeated key with the first order, never a second one.
      let key = sessionStorage.getItem(CHECKOUT_KEY);
      if (!key) { key = uuid4(); sessionStorage.setItem(CHECKOUT_KEY, key); }
      say(message, "Placing your order…");
      const r = await withRetries(
        () => api("POST", "/api/orders", {body: {}, headers: {"Idempotency-Key": key}}),
        (seconds, answer) => say(message, waitingText(seconds, answer), "wait"), 60);
      if (r.status === 202) {
        sessionStorage.removeItem(CHECKOUT_KEY);
        setCartCount(0);
        confirmation(r.body);
        return;
      }
      // A refused checkout wrote nothing: the next click is a new attempt with a new key.
      // One still in doubt (no answer after every retry) keeps its key for the next click.
      if (!retryable(r)) sessionStorage.removeItem(CHECKOUT_KEY);
      say(message, sentence(r), "error");
      if (sendAway(r, "/cart")) return;
      // The cart is shown again as it is now (each line with its problem); nothing in it
      // was lost. Sold out: the button stays off until that line is changed or removed.
      if (!(await load())) place.disabled = false;
      if (r.body.code === "SOLD_OUT") place.disabled = true;
    }

    function confirmation(body) {
      const heading = el("h2", {tabindex: "-1", text: "Order confirmed"});
      root.replaceChildren(el("section", {class: "notice", "aria-labelledby": "confirmed"},
        Object.assign(heading, {id: "confirmed"}),
        el("p", {}, "Your order number is ", el("strong", {id: "order-number", text: body.order_id}), "."),
        el("p", {text: "We are taking the payment now; you can follow every step."}),
        el("p", {}, el("a", {href: `/orders/${body.order_id}`, text: "Follow your order"}))));
      heading.focus();
      announce(`Order confirmed. Your order number is ${body.order_id}.`);
    }

    place.addEventListener("click", checkout);
    status.remove();
    root.append(listBox, totalBox, blocked, el("div", {}, place), message);
    if (sessionStorage.getItem(CHECKOUT_KEY)) {
      say(message, "Your last checkout did not get an answer. Place the order again: it will not be placed twice.", "wait");
    }
    await load();
  }

  // --- the order page (/orders/<id>) ----------------------------------------------------------
  const STATUS_WORDS = {
    accepted: "Order received: we are taking your payment.",
    paid: "Paid: we are preparing your shipment.",
    fulfilled: "Fulfilled: your order is on its way.",
  };
  const FAILURES = {
    payment_declined: "your payment was declined, so nothing was charged.",
    out_of_stock: "the product sold out before we could set it aside. Any payment taken is refunded.",
  };

  async function orderPage() {
    const root = $("order");
    const status = $("status");
    const id = root.dataset.orderId;
    const steps = el("ol", {class: "steps", "aria-label": "Order progress"});
    const details = el("dl", {class: "attrs"});
    const lines = el("ul", {class: "lines", "aria-label": "Order lines"});
    root.append(steps, details, el("h2", {text: "What you ordered"}), lines);
    let delay = 1000;
    let lastStatus = null;

    function render(order) {
      const names = ["accepted", "paid", "fulfilled"];
      const reached = order.status === "failed" ? -1 : names.indexOf(order.status);
      steps.replaceChildren(...names.map((name, i) => el("li", {
        class: i < reached || order.status === "fulfilled" || (order.status === "failed" && i === 0) ? "done" : "",
        "aria-current": i === reached && order.status !== "fulfilled" ? "step" : null,
        text: name[0].toUpperCase() + name.slice(1),
      })));
      if (order.status === "failed") steps.append(el("li", {class: "failed", "aria-current": "step", text: "Failed"}));
      const words = order.status === "failed"
        ? "This order could not be completed: " + (FAILURES[order.reason] || "something went wrong while processing it. Any payment taken is refunded.")
        : STATUS_WORDS[order.status] || order.status;
      if (order.status !== lastStatus) {
        say(status, words, order.status === "failed" ? "error" : "");
        lastStatus = order.status;
      }
      const rows = [["Status", order.status], ["Total", money(order.total, order.currency)],
        ["Placed", new Date(order.created_at).toLocaleString("en")]];
      const f = order.fulfillment;
      if (f && f.available) {
        if (f.payment) {
          const code = f.payment.decline_code ? ` (${f.payment.decline_code.replace(/_/g, " ")})` : "";
          rows.push(["Payment", `${f.payment.status}${code}, ${money(f.payment.amount, f.payment.currency)}`]);
        }
        if (f.shipment) rows.push(["Shipment", f.shipment.status]);
      } else {
        rows.push(["Payment and shipment", "details follow as soon as fulfillment has them"]);
      }
      details.replaceChildren(...rows.map(([k, v]) => [el("dt", {text: k}), el("dd", {text: v})]).flat());
      lines.replaceChildren(...order.lines.map((line) => el("li", {class: "line"},
        el("span", {text: `${line.quantity} × ${line.name || line.sku}`}),
        el("span", {class: "price", text: `${money(line.unit_price, line.currency)} each`}))));
    }

    async function poll() {
      const r = await withRetries(() => api("GET", `/api/orders/${id}?include=fulfillment`),
        (s, answer) => say(status, waitingText(s, answer), "wait"));
      if (r.status !== 200) { say(status, sentence(r), "error"); return; }
      render(r.body);
      const f = r.body.fulfillment;
      const finished = r.body.status === "failed" || (r.body.status === "fulfilled" && f && f.available);
      if (!finished) later();
    }
    // Every poll spends the order service's admission budget, which checkouts need more:
    // back off to 10 s, and wait while the tab is hidden.
    function later() {
      window.setTimeout(() => {
        if (document.hidden) document.addEventListener("visibilitychange", later, {once: true});
        else poll();
      }, delay);
      delay = Math.min(10000, delay * 1.5);
    }
    await poll();
  }

  // --- the waiting room (/waiting-room/<slug>?next=...) --------------------------------------
  // One join (the place is the holder's: joining again returns the same ticket), then the
  // room's shared status document every poll_ms. The document is the same for everyone and
  // cached by the edge, so a waiting shopper's poll costs no Python at the origin; the page
  // works out its own position and wait from it and its ticket (docs/waiting-room.md).
  function serverMs(value) {
    if (typeof value === "number") return value < 1e12 ? value * 1000 : value;
    const parsed = Date.parse(value);
    return Number.isFinite(parsed) ? parsed : null;
  }

  function waitText(seconds) {
    if (!Number.isFinite(seconds)) return "Not known yet";
    if (seconds < 60) return `About ${Math.max(1, Math.ceil(seconds))} s`;
    if (seconds < 3600) return `About ${Math.ceil(seconds / 60)} min`;
    return `About ${Math.floor(seconds / 3600)} h ${Math.ceil((seconds % 3600) / 60)} min`;
  }

  async function waitingRoomPage() {
    const slug = $("room").dataset.slug;
    const next = safeNext(new URLSearchParams(window.location.search).get("next"), "/cart");
    const stateBox = $("room-state");
    const ticketBox = $("room-ticket");
    const positionBox = $("room-position");
    const waitBox = $("room-wait");
    const note = $("room-note");
    let ticket = null;
    let finished = false;
    let busy = false;  // a join or a pass request in flight: the poll does not start another
    let clockSkew = 0;  // server clock - this clock, from the status document

    // The live region is spoken on every change: set it only when the sentence changes.
    function tell(text, kind) {
      if (stateBox.textContent !== text) stateBox.textContent = text;
      stateBox.className = "state" + (kind ? " " + kind : "");
    }

    function finish(text) {
      finished = true;
      tell(text);
      window.location.assign(next);
    }

    // The room's title from the rooms list (edge-cached 5 s: a room opened a moment ago may
    // not be in it yet, so the poll asks again now and then until it is).
    let titled = false;
    let titleAsked = 0;
    async function title() {
      if (titled || Date.now() - titleAsked < 3000) return;
      titleAsked = Date.now();
      const body = await publicJson("/queue/rooms");
      const room = body && (body.rooms || []).find((r) => r.slug === slug);
      if (!room || !room.title) return;
      titled = true;
      $("room-title").textContent = `Waiting room: ${room.title}`;
      document.title = `Waiting room: ${room.title} · Mega-Deal Day`;
    }
    title();

    async function join() {
      busy = true;
      const r = await withRetries(() => api("POST", `/queue/${encodeURIComponent(slug)}/join`, {body: {}}),
        (seconds, answer) => tell(waitingText(seconds, answer), "wait"));
      busy = false;
      if (r.status === 200) {
        if (r.body.state === "closed") { finish("The queue is over: the sale is open to everyone. Taking you back to the shop…"); return; }
        ticket = r.body.ticket;
        ticketBox.textContent = ticket === null || ticket === undefined ? "Given when the sale opens" : String(ticket);
        if (r.body.admitted && r.body.expires_at) {
          // Admitted already: the pass came with this answer (its cookie is set).
          notePass(slug, r.body.expires_at);
          finish("It is your turn! Taking you back to the shop…");
        } else if (r.body.admitted) {
          await takePass();
        }
        return;
      }
      if (r.status === 403 && r.body.code === "ACCOUNT_REQUIRED") {
        finished = true;
        tell("This sale is for shoppers with an account: taking you to sign in…");
        goToSignIn(here());
        return;
      }
      finished = true;
      tell(r.body.code === "UNKNOWN_ROOM" ? "There is no waiting room at this address." : sentence(r), "error");
    }

    async function takePass() {
      busy = true;
      const r = await withRetries(() => api("POST", `/queue/${encodeURIComponent(slug)}/pass`, {body: {}}),
        (seconds, answer) => tell(waitingText(seconds, answer), "wait"));
      busy = false;
      if (r.status === 200 && r.body.state === "closed") {
        finish("The queue is over: the sale is open to everyone. Taking you back to the shop…");
        return;
      }
      if (r.status === 200) {
        notePass(slug, r.body.expires_at);
        finish("It is your turn! Taking you back to the shop…");
        return;
      }
      if (r.body.code === "SOLD_OUT") { soldOut(); return; }
      if (r.body.code === "QUEUE_NOT_JOINED") { await join(); return; }  // a new session (signed out)
      if (r.body.code === "QUEUE_PLACE_LOST") {
        note.textContent = "You were let in but did not come back in time, so your place went to the next shopper. You have a new place at the end of the queue.";
        ticket = null;
        await join();
        return;
      }
      if (r.body.code === "ACCOUNT_REQUIRED") { finished = true; goToSignIn(here()); return; }
      // QUEUE_NOT_YET: the status document we saw was a moment ahead; the next poll asks again.
    }

    function soldOut() {
      tell("Sold out: every unit of this sale is reserved. Keep this page open: if units come back (a payment declined, a restock), the queue moves on and you keep your place.", "SOLD_OUT");
      waitBox.textContent = "Sold out";
    }

    async function render(doc) {
      const at = serverMs(doc.server_time);
      if (at !== null) clockSkew = at - Date.now();
      if (doc.state === "closed") { finish("The queue is over: the sale is open to everyone. Taking you back to the shop…"); return; }
      if (doc.state === "prequeue") {
        const opens = serverMs(doc.opens_at);
        const when = opens === null ? "soon" : new Date(opens).toLocaleTimeString("en", {hour: "2-digit", minute: "2-digit", hourCycle: "h23"});
        tell(`The sale opens at ${when}. You are in the pre-queue: at the opening everyone in it gets a place in a random order, so coming early gives no advantage, and coming now is as good as any time before ${when}.`);
        positionBox.textContent = "Drawn when the sale opens";
        waitBox.textContent = opens === null ? "Not known yet" : `Opens in ${duration(opens - Date.now() - clockSkew)}`;
        return;
      }
      if (ticket === null || ticket === undefined) { await join(); return; }  // the pre-queue was drawn
      const position = ticket - Number(doc.admitted_through || 0);
      positionBox.textContent = position > 0 ? String(position) : "Your turn";
      if (doc.state === "sold_out") { soldOut(); return; }
      if (position <= 0) { tell("It is your turn! Getting your pass…"); await takePass(); return; }
      if (doc.state === "paused") {
        tell(`The queue is paused for a moment. You keep your place: number ${position}.`, "wait");
        waitBox.textContent = "Paused";
        return;
      }
      const rate = Number(doc.rate || 0);
      tell(position === 1 ? "You are next in the queue." : `You are number ${position} in the queue.`);
      waitBox.textContent = waitText(rate > 0 ? position / rate : NaN);
    }

    async function poll() {
      let delay = 1000;
      title();
      if (!busy) {
        const doc = await publicJson(`/queue/${encodeURIComponent(slug)}/status`);
        if (doc) {
          delay = Math.max(250, Number(doc.poll_ms) || 1000);
          await render(doc);
        } else {
          delay = 2000 + Math.random() * 1000;  // the edge or the room is not answering: calmly again
        }
      }
      if (!finished) window.setTimeout(poll, delay);
    }

    await join();
    if (!finished) poll();
  }

  // --- the account pages (/account/signin, /account/signup, /account) ------------------------
  // A sentence for a refused form: the code's own, the password validators' reasons, the
  // fields' errors, else the API's message (docs/order.md: {"code", "message", "detail"}).
  function formError(r) {
    const detail = r.body.detail || {};
    if (r.body.code === "PASSWORD_TOO_WEAK" && Array.isArray(detail.reasons) && detail.reasons.length) {
      return "Please choose another password: " +
        detail.reasons.map((reason) => (typeof reason === "string" ? reason : reason.message)).join(" ");
    }
    if (r.body.code === "VALIDATION_ERROR" && detail.fields) {
      return Object.entries(detail.fields).map(([field, words]) =>
        `${field[0].toUpperCase()}${field.slice(1)}: ${[words].flat().join(" ")}`).join(" ");
    }
    if (SENTENCES[r.body.code] && r.body.code !== "ACCOUNT_REQUIRED") return sentence(r);
    if (typeof r.body.message === "string" && r.body.message && r.status < 500) return r.body.message;
    return sentence(r);
  }

  function afterSignIn() {
    return safeNext(new URLSearchParams(window.location.search).get("next"), "/account");
  }

  function accountForm(formId, path, fields, okStatus) {
    const form = $(formId);
    const message = $("form-message");
    const button = form.querySelector("button[type=submit]");
    const link = form.parentNode.querySelector("a[href^='/account/sign']");
    const next = new URLSearchParams(window.location.search).get("next");
    if (link && next) link.setAttribute("href", link.getAttribute("href") + "?next=" + encodeURIComponent(safeNext(next, "/account")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = {};
      for (const name of fields) body[name] = $(name).value;
      const empty = fields.find((name) => !String(body[name]).trim());
      if (empty) {
        say(message, `Please fill in your ${$(empty).labels[0].textContent.toLowerCase()}.`, "error");
        $(empty).focus();
        return;
      }
      button.disabled = true;
      say(message, "Just a moment…");
      const r = await withRetries(() => api("POST", path, {body}), (seconds, answer) => say(message, waitingText(seconds, answer), "wait"));
      if (r.status === okStatus) {
        writeAccount({signed_in: true, ...r.body, email: r.body.email || body.email});
        // The pass notes stay: the order service re-issues the passes for the new session key.
        window.location.assign(afterSignIn());
        return;
      }
      button.disabled = false;
      say(message, formError(r), "error");
      $(r.body.code === "INVALID_CREDENTIALS" ? "password" : fields[0]).focus();
    });
  }

  async function signinPage() {
    accountForm("signin-form", "/api/account/signin", ["email", "password"], 200);
    const known = await account({fresh: true});
    if (known.signed_in) say($("form-message"), `You are signed in as ${known.name || known.email}. Sign in below to use another account.`);
  }

  async function signupPage() {
    accountForm("signup-form", "/api/account/signup", ["name", "email", "password"], 201);
    await account({fresh: true});
  }

  async function accountPage() {
    const root = $("account");
    const status = $("status");
    const known = await account({fresh: true});
    if (!known.signed_in) { window.location.replace("/account/signin?next=/account"); return; }
    const signOut = el("button", {type: "button", class: "secondary", text: "Sign out"});
    const message = el("div", {class: "notice", role: "alert"});
    const list = el("ul", {class: "orders", "aria-label": "My orders"});
    const ordersNote = el("p", {text: "Loading your orders…"});
    status.remove();
    root.append(
      el("p", {}, "Signed in as ", el("strong", {text: known.name || known.email}),
        known.name ? ` (${known.email})` : ""),
      el("div", {}, signOut), message,
      el("h2", {text: "My orders"}), ordersNote, list);
    signOut.addEventListener("click", async () => {
      signOut.disabled = true;
      const r = await withRetries(() => api("POST", "/api/account/signout", {body: {}}), (seconds, answer) => say(message, waitingText(seconds, answer), "wait"));
      if (r.status === 204 || r.status === 200) {
        // The session was flushed: no account, no cart, no pass any more in this tab.
        for (const key of Object.keys(sessionStorage)) {
          if (key.startsWith("storefront.")) sessionStorage.removeItem(key);
        }
        writeAccount({signed_in: false});
        window.location.assign("/");
        return;
      }
      signOut.disabled = false;
      say(message, sentence(r), "error");
    });
    const r = await withRetries(() => api("GET", "/api/account/orders"), (seconds, answer) => { ordersNote.textContent = waitingText(seconds, answer); });
    if (r.status === 401) { forgetAccount(); window.location.replace("/account/signin?next=/account"); return; }
    if (r.status !== 200) { ordersNote.textContent = sentence(r); return; }
    const orders = r.body.orders || [];
    ordersNote.textContent = orders.length ? "" : "No orders yet.";
    ordersNote.hidden = orders.length > 0;
    list.replaceChildren(...orders.map((order) => el("li", {},
      el("a", {href: `/orders/${encodeURIComponent(order.id)}`, text: `Order ${order.id}`}),
      el("p", {class: "muted", text: `${new Date(order.created_at).toLocaleString("en")} · ${money(order.total, order.currency)} · ${order.status}`}))));
  }

  // --- start -----------------------------------------------------------------------------
  showCartCount();
  const pages = {grid: gridPage, product: productPage, cart: cartPage, order: orderPage,
    "waiting-room": waitingRoomPage, signin: signinPage, signup: signupPage, account: accountPage};
  const page = document.body.dataset.page;
  // The account pages ask for the account themselves; the others use the tab's note.
  if (!["signin", "signup", "account"].includes(page)) account();
  const start = pages[page];
  if (start) start();
})();
