// Staff dashboard, live. Polls the runs' status JSON: a running run's progress bar, epochs,
// loss and validation HR move in place; when anything else changes (a run starts or ends, a
// version is activated, its top-10 lists are written) the page re-reads itself and swaps
// every [data-live] section, so nothing waits for a reload. Fast while a run or a precompute
// is under way, slow when idle, paused while the tab is hidden.
(() => {
  "use strict";
  const root = document.getElementById("staff-dashboard");
  if (!root || !window.fetch) return;
  const statusUrl = root.dataset.statusUrl;
  const note = document.getElementById("staff-live");
  const BUSY_MS = 2000;
  const IDLE_MS = 15000;
  let state = root.dataset.state;
  let busy = root.dataset.busy === "true";
  let epochsSeen = null;
  let timer = null;
  let polling = false;

  const fmt = (v) => (v === null || v === undefined ? "" : Number(v).toFixed(4));
  const setText = (row, field, text) => {
    const el = row.querySelector(`[data-field="${field}"]`);
    if (el && el.textContent !== text) el.textContent = text;
    return el;
  };

  function updateRun(run) {
    const row = root.querySelector(`tr[data-run="${run.id}"]`);
    if (!row) return;
    const status = setText(row, "status", run.status);
    if (status) status.className = `status status-${run.status}`;
    const bar = row.querySelector('[data-field="progress"]');
    if (bar) {
      bar.max = Math.max(run.epochs_total, 1);
      bar.value = run.epochs_done;
    }
    setText(row, "epochs", `${run.epochs_done}/${run.epochs_total} epochs`);
    setText(row, "loss", fmt(run.last_loss));
    // A finished run shows its best epoch (rendered by the server), not the latest one.
    if (run.status === "queued" || run.status === "running") setText(row, "val_hr", fmt(run.last_val_hr));
    setText(row, "outcome", run.decision || run.error || "");
  }

  function refreshPlot() {
    // The latest run's curves, with a new query so the browser fetches the new epoch.
    const img = document.getElementById("latest-plot");
    if (!img) return;
    const stamp = `t=${Date.now()}`;
    img.src = `${img.src.split("?")[0]}?${stamp}`;
    const source = img.parentElement.querySelector("source");
    if (source) source.srcset = `${source.srcset.split("?")[0]}?stacked=1&${stamp}`;
  }

  async function refreshSections() {
    const response = await fetch(window.location.pathname, {
      headers: {Accept: "text/html"},
      credentials: "same-origin",
    });
    if (!response.ok) return;
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
    const freshRoot = fresh.getElementById("staff-dashboard");
    if (!freshRoot) return;  // signed out meanwhile: leave the page as it is
    for (const section of root.querySelectorAll("[data-live]")) {
      const next = freshRoot.querySelector(`[data-live="${section.dataset.live}"]`);
      if (next) section.replaceWith(document.importNode(next, true));
    }
    const plots = root.querySelector(".plots");
    const freshPlots = freshRoot.querySelector(".plots");
    if (plots && freshPlots && !plots.querySelector("#latest-plot") !== !freshPlots.querySelector("#latest-plot")) {
      plots.replaceWith(document.importNode(freshPlots, true));  // the first run's plot appears
    } else {
      refreshPlot();
    }
    state = freshRoot.dataset.state;
  }

  async function poll() {
    if (polling) return;
    polling = true;
    try {
      const response = await fetch(statusUrl, {headers: {Accept: "application/json"}, credentials: "same-origin"});
      if (!response.ok) throw new Error(`status ${response.status}`);
      const data = await response.json();
      data.runs.forEach(updateRun);
      const running = data.runs.find((run) => run.status === "running");
      if (running && running.epochs_done !== epochsSeen) {
        epochsSeen = running.epochs_done;
        refreshPlot();
      }
      if (data.state !== state) await refreshSections();
      busy = data.in_flight || data.precompute_pending;
      if (note) {
        const time = new Date().toLocaleTimeString([], {hour: "2-digit", minute: "2-digit", second: "2-digit"});
        const doing = data.in_flight ? "training" : data.precompute_pending ? "writing top-10 lists" : "idle";
        note.textContent = `Live · ${doing} · checked ${time}`;
      }
    } catch (error) {
      if (note) note.textContent = "Live updates paused: the server did not answer. Retrying…";
    }
    polling = false;
    schedule();
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (document.hidden) schedule();
      else poll();
    }, busy ? BUSY_MS : IDLE_MS);
  }

  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) poll();
  });
  schedule();
})();
