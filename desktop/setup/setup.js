// The desktop app's first-start page: the server's address goes to the shell (the `server_set`
// command checks it, stores it and restarts the app on it). Also shown from the tray's
// "Change server…", with the current address filled in.
(function () {
  const invoke = window.__TAURI_INTERNALS__ && window.__TAURI_INTERNALS__.invoke;
  const form = document.getElementById('setup');
  const input = document.getElementById('server');
  const error = document.getElementById('error');
  const button = document.getElementById('connect');
  if (!invoke) {
    error.textContent = 'This page belongs to the natter desktop app.';
    error.hidden = false;
    button.disabled = true;
    return;
  }
  const cancel = document.getElementById('cancel');
  invoke('server_get').then((current) => {
    if (!current) return;
    // Reached from the tray's "Change server…": the app can go back as it was.
    if (!input.value) input.value = current;
    cancel.hidden = false;
    cancel.addEventListener('click', () => location.assign('/'));
  });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.hidden = true;
    button.disabled = true;
    button.textContent = 'Connecting…';
    try {
      await invoke('server_set', { server: input.value.trim() });
    } catch (err) {
      error.textContent = String(err);
      error.hidden = false;
      button.disabled = false;
      button.textContent = 'Connect';
    }
  });
})();
