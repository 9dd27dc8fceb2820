/* global document, window */
// The demo site's own script: its "联系客服" button opens the chat through the public JS API.
document.addEventListener('DOMContentLoaded', () => {
  document.getElementById('contact')?.addEventListener('click', () => {
    if (window.Parley) window.Parley.open();
  });
});
