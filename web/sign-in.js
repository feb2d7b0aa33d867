// The plain sign-in page the e-mails link to when the server has no APP_URL (no clinic web app
// of its own): it signs in, says who is signed in, and signs out again.
"use strict";

const messages = {
  CREDS: "The e-mail or password is wrong.",
  RATEL: "Too many attempts. Wait a few minutes and try again.",
};

const form = document.getElementById("form");
const message = document.getElementById("message");
if (new URLSearchParams(location.search).has("password-set")) document.getElementById("welcome").hidden = false;

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  message.textContent = "";
  try {
    const response = await fetch("/auth/login", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        email: document.getElementById("email").value,
        password: document.getElementById("password").value,
      }),
    });
    const body = await response.json();
    if (!response.ok) {
      message.textContent = messages[body.error?.code] ?? body.error?.message ?? "Something went wrong.";
      return;
    }
    form.hidden = true;
    message.textContent = `Your account works: you are ${body.user.fullName} (${body.user.userRole}) at ${body.tenant.name}. Use it in your clinic's app.`;
    await fetch("/auth/logout", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ refreshToken: body.refreshToken }),
    });
  } catch {
    message.textContent = "The server could not be reached. Try again.";
  }
});
