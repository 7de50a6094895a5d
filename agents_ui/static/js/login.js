// The login form: POST /api/v1/auth/login, then the console. The session is the HttpOnly cookie
// the server sets; nothing is kept in storage here.
import {api, explain} from './api.js';
import {loadCatalogue, t} from './i18n.js';
import {setLanguage} from './lang.js';

const form = document.getElementById('login-form');
const error = document.getElementById('login-error');
const submit = form.querySelector('button[type=submit]');

function show(message) {
  error.textContent = message;
  if (message) error.removeAttribute('hidden');
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const email = form.elements.email.value.trim();
  const password = form.elements.password.value;
  if (!email || !password) {
    show(t('login.missing'));
    return;
  }
  show('');
  submit.disabled = true;
  submit.textContent = t('login.signing_in');
  try {
    await api('POST', '/api/v1/auth/login', {email, password});
    window.location.assign('/');
    return;
  } catch (err) {
    if (err.status === 429) {
      show(t('login.throttled', {count: err.params.retry_after || 60}));
    } else if (err.status === 503) {
      show(t('login.busy'));
    } else if (err.status === 401 || err.status === 422) {
      show(t('login.wrong'));
      form.elements.password.select();
    } else if (err.status === 0) {
      show(t('common.network_error'));
    } else {
      show(explain(err));
    }
  }
  submit.disabled = false;
  submit.textContent = t('login.submit');
});

for (const button of document.querySelectorAll('.lang-switch [data-lang]')) {
  button.addEventListener('click', () => {
    setLanguage(button.dataset.lang);
    window.location.reload();
  });
}

loadCatalogue().catch(() => show(t('common.network_error')));
