// recsite: progressive enhancement. Every form here also works without this file.
(function () {
  "use strict";

  var toastTimer;
  function toast(text) {
    var el = document.getElementById("toast");
    if (!el) return;
    el.textContent = text;
    el.classList.add("show");
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { el.classList.remove("show"); }, 2200);
  }

  function csrfToken(form) {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    if (input) return input.value;
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  // One rating request at a time, in the order they were made: each answer's count of the
  // user's ratings then includes every rating sent before it, so the last answer is the truth.
  var queue = Promise.resolve();
  function postForm(form) {
    var body = new FormData(form);
    var sent = queue.then(function () { return send(form, body); });
    queue = sent.catch(function () {});
    return sent;
  }

  function send(form, body) {
    return fetch(form.action, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRFToken": csrfToken(form) }
    }).then(function (response) {
      if (response.redirected && /\/accounts\/login\//.test(response.url)) {
        window.location.href = response.url;
        throw new Error("login required");
      }
      return response.json().then(function (data) {
        if (!response.ok) throw new Error(data.detail || "Could not save the rating.");
        return data;
      });
    });
  }

  // -- after a rating: refresh the stats, the onboarding counter and the rows ---------------
  function afterRating(data) {
    document.querySelectorAll('[data-movie-stats="' + data.movie_id + '"]').forEach(function (el) {
      var mean = el.querySelector("[data-mean]");
      var count = el.querySelector("[data-count]");
      if (mean && count) {
        mean.textContent = Number(data.rating_mean).toFixed(2);
        count.textContent = data.rating_count;
      }
    });
    var progress = document.querySelector("[data-onboarding-progress]");
    if (progress) {
      var rated = data.my_rating_count, needed = Number(progress.dataset.needed);
      var done = rated >= needed;
      progress.textContent = progressText(rated, needed);
      progress.classList.toggle("done", done);
      var finish = document.querySelector("[data-finish]");
      if (finish && done) finish.removeAttribute("aria-disabled");
      if (finish && !done) finish.setAttribute("aria-disabled", "true");
    }
    document.querySelectorAll("[data-refresh-url]").forEach(refresh);
  }

  // The same wording as templates/ratings/profile_onboarding_rate.html: count up to the goal.
  function progressText(rated, needed) {
    if (rated < needed) return rated + " of " + needed + " rated \u2014 " + (needed - rated) + " to go";
    var text = needed + " of " + needed + " rated \u2014 you're set";
    return rated > needed ? text + " (" + rated + " so far)" : text;
  }

  function refresh(container) {
    container.setAttribute("aria-busy", "true");
    fetch(container.dataset.refreshUrl, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(new Error(r.status)); })
      .then(function (html) {
        container.innerHTML = html;
        container.setAttribute("aria-busy", "false");
        container.dispatchEvent(new CustomEvent("recsite:refreshed", { bubbles: true }));
      })
      .catch(function () { container.setAttribute("aria-busy", "false"); });
  }

  function widgetState(widget, score) {
    var value = widget.querySelector("[data-rating-value]");
    if (value) value.textContent = score === null ? "Not rated" : String(Number(score)) + " / 5";
    var remove = widget.querySelector("[data-rating-delete]");
    if (remove) remove.hidden = score === null;
    if (score === null) {
      widget.querySelectorAll("input[type=radio]").forEach(function (r) { r.checked = false; });
    }
    widget.dataset.score = score === null ? "" : String(score);
  }

  // Radios change on every arrow key press: wait a moment so one rating is sent, not five.
  var pending = new WeakMap();
  document.addEventListener("change", function (event) {
    var radio = event.target;
    if (!radio.matches || !radio.matches("[data-rating-form] input[type=radio]")) return;
    var form = radio.form;
    clearTimeout(pending.get(form));
    pending.set(form, setTimeout(function () { submitRating(form); }, 250));
  });

  function submitRating(form) {
    var widget = form.closest("[data-rating-widget]");
    widget.classList.add("saving");
    postForm(form)
      .then(function (data) {
        widgetState(widget, data.score);
        toast("Rated " + Number(data.score) + " ★");
        afterRating(data);
      })
      .catch(function (err) { if (err.message !== "login required") toast(err.message); })
      .finally(function () { widget.classList.remove("saving"); });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.matches("[data-rating-form]")) {
      event.preventDefault();
      if (form.querySelector("input[type=radio]:checked")) submitRating(form);
      return;
    }
    if (form.matches("[data-rating-delete]")) {
      event.preventDefault();
      var widget = form.closest("[data-rating-widget]");
      postForm(form).then(function (data) {
        widgetState(widget, null);
        toast("Rating removed");
        afterRating(data);
      }).catch(function (err) { toast(err.message); });
    }
  });

  // -- onboarding: "See my recommendations" waits for enough ratings --------------------------
  document.addEventListener("click", function (event) {
    var finish = event.target.closest && event.target.closest("[data-finish][aria-disabled=true]");
    if (finish) {
      event.preventDefault();
      toast("Rate a few more films first");
    }
    var arrow = event.target.closest && event.target.closest("[data-scroll]");
    if (arrow) {
      var track = arrow.closest(".row").querySelector(".row-track");
      track.scrollBy({ left: Number(arrow.dataset.scroll) * track.clientWidth * 0.85, behavior: "smooth" });
    }
  });

  // -- search suggestions (combobox with a listbox) -------------------------------------------
  var input = document.querySelector("[data-suggest-url]");
  if (input) {
    var list = document.getElementById(input.getAttribute("aria-controls"));
    var timer, active = -1, lastQuery = "", controller = null;

    function close() {
      list.hidden = true;
      list.innerHTML = "";
      active = -1;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
    }
    function select(index) {
      var items = list.querySelectorAll("li");
      if (!items.length) return;
      active = (index + items.length) % items.length;
      items.forEach(function (li, i) { li.setAttribute("aria-selected", i === active ? "true" : "false"); });
      input.setAttribute("aria-activedescendant", items[active].id);
    }
    function render(results) {
      list.innerHTML = "";
      results.forEach(function (movie, i) {
        var li = document.createElement("li");
        li.id = "suggestion-" + i;
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", "false");
        li.dataset.href = movie.url;  // an option holds no link: nothing interactive inside it
        var img = document.createElement("img");
        img.src = movie.poster;
        img.alt = "";
        img.dataset.fallback = movie.poster.indexOf("/posters/") >= 0 ? movie.poster : "/posters/" + movie.id + ".svg";
        var text = document.createElement("span");
        text.textContent = movie.title;  // textContent: titles are data, never markup
        if (movie.year) {
          var year = document.createElement("span");
          year.className = "s-year";
          year.textContent = " " + movie.year;
          text.appendChild(year);
        }
        li.appendChild(img);
        li.appendChild(text);
        list.appendChild(li);
      });
      list.hidden = results.length === 0;
      input.setAttribute("aria-expanded", results.length ? "true" : "false");
      active = -1;
    }
    input.addEventListener("input", function () {
      var q = input.value.trim();
      clearTimeout(timer);
      if (q.length < 2) { close(); return; }
      timer = setTimeout(function () {
        if (q === lastQuery) return;
        lastQuery = q;
        if (controller) controller.abort();
        controller = new AbortController();
        fetch(input.dataset.suggestUrl + "?q=" + encodeURIComponent(q), { signal: controller.signal, headers: { "Accept": "application/json" } })
          .then(function (r) { return r.json(); })
          .then(function (data) { if (data.query === input.value.trim()) render(data.results); })
          .catch(function () {});
      }, 150);
    });
    input.addEventListener("keydown", function (event) {
      if (list.hidden) return;
      if (event.key === "ArrowDown") { event.preventDefault(); select(active + 1); }
      else if (event.key === "ArrowUp") { event.preventDefault(); select(active - 1); }
      else if (event.key === "Escape") { close(); }
      else if (event.key === "Enter" && active >= 0) {
        event.preventDefault();
        window.location.href = list.querySelectorAll("li")[active].dataset.href;
      }
    });
    list.addEventListener("click", function (event) {
      var option = event.target.closest("li[data-href]");
      if (option) window.location.href = option.dataset.href;
    });
    document.addEventListener("click", function (event) {
      if (!input.form.contains(event.target)) close();
    });
    input.addEventListener("focus", function () { lastQuery = ""; });
  }
})();
