// The set-password page: the token arrives in the URL fragment (#token=…), which browsers never
// send to a server or in Referer. It is posted to /auth/set-password and nowhere else.
"use strict";

const messages = {
  WEAKP: "That password is too short: use at least 10 characters.",
  TOKEN: "This link has expired or was already used. Ask your clinic's admin for a new one.",
  RATEL: "Too many attempts. Wait a minute and try again.",
};

const token = new URLSearchParams(location.hash.slice(1)).get("token");
// Keep the token out of the address bar and the history once it is read.
history.replaceState(null, "", location.pathname);
const form = document.getElementById("form");
const message = document.getElementById("message");
if (token) form.hidden = false;
else document.getElementById("missing").hidden = false;

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const password = document.getElementById("password").value;
  if (password !== document.getElementById("repeat").value) {
    message.textContent = "The two passwords differ.";
    return;
  }
  message.textContent = "";
  try {
    const response = await fetch("/auth/set-password", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token, password }),
    });
    const body = await response.json();
    if (!response.ok) {
      message.textContent = messages[body.error?.code] ?? body.error?.message ?? "Something went wrong.";
      return;
    }
    // This page needs no session: end the one the answer opened, then sign in as usual.
    await fetch("/auth/logout", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ refreshToken: body.refreshToken }),
    });
    location.assign("/sign-in?password-set=1");
  } catch {
    message.textContent = "The server could not be reached. Try again.";
  }
});
