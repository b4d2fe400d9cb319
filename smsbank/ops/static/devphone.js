// The dev phone: texts the bank through /dev/phone/send (which signs and forwards a
// Twilio-shaped webhook) and polls /dev/messages to show the thread live.
"use strict";

(function () {
  const POLL_MS = 1000;
  const LINK = /https?:\/\/[^\s<>"]+/g;

  const phoneInput = document.getElementById("phone");
  const numberForm = document.getElementById("number-form");
  const compose = document.getElementById("compose");
  const bodyInput = document.getElementById("body");
  const sendButton = document.getElementById("send");
  const thread = document.getElementById("thread");
  const errorBox = document.getElementById("error");

  let phone = phoneInput.value || localStorage.getItem("smsbank-dev-phone") || "";
  let lastRendered = "";
  let pollTimer = null;
  // Follow the newest message unless the reader scrolled up to read older ones.
  let followNewest = true;

  phoneInput.value = phone;

  function showError(text) {
    errorBox.textContent = text || "";
    errorBox.hidden = !text;
  }

  async function errorText(response) {
    try {
      const answer = await response.json();
      if (answer && answer.error && answer.error.message) return answer.error.message;
    } catch (ignored) {
      // not JSON: fall through to the status line
    }
    return `The bank answered ${response.status}.`;
  }

  // Message text with its links made clickable, built from DOM nodes (never innerHTML:
  // bodies are untrusted text).
  function fillText(element, text) {
    let last = 0;
    for (const match of text.matchAll(LINK)) {
      element.appendChild(document.createTextNode(text.slice(last, match.index)));
      const link = document.createElement("a");
      link.href = match[0];
      link.textContent = match[0];
      link.target = "_blank";
      link.rel = "noopener";
      link.className = "link";
      element.appendChild(link);
      last = match.index + match[0].length;
    }
    element.appendChild(document.createTextNode(text.slice(last)));
  }

  function render(messages) {
    const snapshot = JSON.stringify(messages);
    if (snapshot === lastRendered) return;
    lastRendered = snapshot;
    thread.replaceChildren();
    if (messages.length === 0) {
      const empty = document.createElement("p");
      empty.className = "empty";
      empty.textContent = phone ? "No messages yet. Try HELP." : "Enter this phone's number first.";
      thread.appendChild(empty);
      return;
    }
    for (const message of messages) {
      const bubble = document.createElement("div");
      bubble.className = `msg ${message.direction} ${message.channel}`;
      bubble.dataset.status = message.status;
      if (message.channel === "voice") {
        // A word, not an emoji: headless and older phones' fonts lack the glyph.
        const badge = document.createElement("span");
        badge.className = "badge";
        badge.textContent = "Call";
        bubble.appendChild(badge);
      }
      const text = document.createElement("span");
      text.className = "text";
      fillText(text, message.body);
      bubble.appendChild(text);
      const meta = document.createElement("span");
      meta.className = "meta";
      const time = new Date(message.created_at).toLocaleTimeString();
      meta.textContent = message.direction === "outbound" ? `${time} · ${message.status}` : time;
      if (message.no_reply) {
        const noReply = document.createElement("span");
        noReply.className = "no-reply";
        noReply.textContent = ` · no reply: ${message.no_reply}`;
        meta.appendChild(noReply);
      }
      bubble.appendChild(meta);
      thread.appendChild(bubble);
    }
    if (followNewest) thread.scrollTop = thread.scrollHeight;
  }

  thread.addEventListener("scroll", () => {
    followNewest = thread.scrollHeight - thread.scrollTop - thread.clientHeight < 40;
  });

  async function poll() {
    clearTimeout(pollTimer);
    try {
      if (!phone) {
        render([]);
        return;
      }
      const response = await fetch(`/dev/messages?phone=${encodeURIComponent(phone)}`, {
        headers: { Accept: "application/json" },
      });
      if (!response.ok) {
        showError(await errorText(response));
        return;
      }
      render((await response.json()).messages);
    } catch (failure) {
      showError("The bank is not answering; retrying…");
    } finally {
      pollTimer = setTimeout(poll, POLL_MS);
    }
  }

  async function send(text) {
    if (!phone) {
      showError("Enter this phone's number first.");
      phoneInput.focus();
      return;
    }
    if (!text.trim()) return;
    sendButton.disabled = true;
    try {
      const response = await fetch("/dev/phone/send", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ from: phone, body: text }),
      });
      if (!response.ok) {
        showError(await errorText(response));
        return;
      }
      showError("");
      bodyInput.value = "";
      followNewest = true;
      poll();
    } catch (failure) {
      showError("Could not reach the bank; try again.");
    } finally {
      sendButton.disabled = false;
      bodyInput.focus();
    }
  }

  numberForm.addEventListener("submit", (event) => {
    event.preventDefault();
    phone = phoneInput.value.trim();
    localStorage.setItem("smsbank-dev-phone", phone);
    const url = new URL(window.location.href);
    url.searchParams.set("phone", phone);
    history.replaceState(null, "", url);
    lastRendered = "";
    followNewest = true;
    showError("");
    poll();
  });

  compose.addEventListener("submit", (event) => {
    event.preventDefault();
    send(bodyInput.value);
  });

  bodyInput.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      send(bodyInput.value);
    }
  });

  for (const button of document.querySelectorAll(".shortcuts button")) {
    button.addEventListener("click", () => send(button.dataset.text));
  }

  poll();
})();
