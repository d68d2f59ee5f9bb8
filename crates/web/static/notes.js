// Circle: drafts of notes save themselves while a clinician types, so a session that
// expires (15 idle minutes) loses nothing typed before the last save. Each form marked
// `data-autosave` is sent, a moment after the last keystroke, to the endpoint its own
// "Save draft" button posts to, with `action=autosave`; the answer is JSON with the
// draft's new version. Only one save per form is in flight at a time. Without this script
// the "Save draft" button does the same.
(function () {
  "use strict";
  var DELAY_MS = 1200;

  function setup(form) {
    var status = form.querySelector(".autosave");
    var version = form.querySelector("input[name=version]");
    var timer = null;
    var inFlight = null;
    var again = false;

    function say(text) {
      if (status) {
        status.textContent = text;
      }
    }

    function save() {
      timer = null;
      if (inFlight) {
        again = true;
        return;
      }
      again = false;
      var body = new URLSearchParams(new FormData(form));
      body.delete("confirm_names_checked");
      body.set("action", "autosave");
      // The attribute, not `form.action`: the buttons are named "action", which shadows it.
      inFlight = fetch(form.getAttribute("action"), {
        method: "POST",
        body: body,
        credentials: "same-origin",
        redirect: "manual",
        headers: { "Accept": "application/json" }
      })
        .then(function (r) {
          if (r.type === "opaqueredirect" || r.status === 0) {
            say("Not saved: you are signed out. Sign in again; the draft saved before is kept.");
            return null;
          }
          return r.json().then(function (j) {
            if (r.ok && version) {
              version.value = String(j.version);
              say("Draft saved at " + j.saved_at + ".");
            } else {
              say("Not saved: " + (j.error || "try Save draft."));
            }
          });
        })
        .catch(function () {
          say("Not saved: no connection. Keep this page open and use Save draft.");
        })
        .then(function () {
          inFlight = null;
          if (again) {
            schedule();
          }
        });
    }

    function schedule() {
      if (timer) {
        clearTimeout(timer);
      }
      timer = setTimeout(save, DELAY_MS);
    }

    form.addEventListener("input", function () {
      say("Changes not saved yet.");
      schedule();
    });
    form.addEventListener("submit", function (e) {
      if (timer) {
        clearTimeout(timer);
        timer = null;
      }
      again = false;
      if (inFlight) {
        // Send the form once the autosave has answered, with the version it returned.
        e.preventDefault();
        var submitter = e.submitter;
        inFlight.then(function () {
          form.requestSubmit(submitter);
        });
      }
    });
  }

  document.querySelectorAll("form[data-autosave]").forEach(setup);

  // A refused note is rendered in place (status 422, no redirect to its anchor): bring
  // its explanation into view.
  var refusal = document.querySelector("section.note [role=alert]");
  if (refusal) {
    refusal.scrollIntoView({ block: "center" });
  }
})();
