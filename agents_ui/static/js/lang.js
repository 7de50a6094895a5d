// The agent's language choice, remembered in the `hub_lang` cookie (read by the server to render
// pages and pick the catalogue). Not a secret, so not HttpOnly.
export const LANGUAGES = [['en', 'English'], ['es', 'Español']];

export function setLanguage(code) {
  if (!LANGUAGES.some(([c]) => c === code)) return;
  const secure = window.location.protocol === 'https:' ? '; Secure' : '';
  document.cookie = `hub_lang=${code}; Path=/; Max-Age=31536000; SameSite=Lax${secure}`;
}
