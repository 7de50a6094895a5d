// SMS segments as carriers count them: GSM-7 (160 per message, 153 per part; the extension
// characters take two) unless any character needs UCS-2 (70, 67 per part; astral characters two).
const GSM = '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
const GSM_EXT = '^{}\\[~]|€\f';
const GSM_SET = new Set(GSM);
const EXT_SET = new Set(GSM_EXT);

export function smsSegments(text) {
  let units = 0;
  let gsm = true;
  for (const ch of text) {
    if (GSM_SET.has(ch)) units += 1;
    else if (EXT_SET.has(ch)) units += 2;
    else { gsm = false; break; }
  }
  if (!gsm) {
    units = 0;
    for (const ch of text) units += ch.length; // UTF-16 code units
  }
  const [single, part] = gsm ? [160, 153] : [70, 67];
  const segments = units === 0 ? 1 : units <= single ? 1 : Math.ceil(units / part);
  return {segments, encoding: gsm ? 'GSM-7' : 'UCS-2', units};
}
