/**
 * Escaping as libvirt writes XML: the five markup characters become entities (libvirt quotes
 * attribute values with `'`, and uses the same escaping for text) and control characters other
 * than tab, newline and carriage return are dropped. libvirt drops 0x01–0x19 but lets 0x1A–0x1F
 * through, which yields XML no parser accepts; Strata drops those too. None of them can reach
 * the model from parsed XML (XML 1.0 forbids them), only from models built in code.
 */
export function escapeLibvirt(value: string): string {
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const ch = value.charCodeAt(i);
    switch (ch) {
      case 0x3c:
        out += '&lt;';
        break;
      case 0x3e:
        out += '&gt;';
        break;
      case 0x26:
        out += '&amp;';
        break;
      case 0x22:
        out += '&quot;';
        break;
      case 0x27:
        out += '&apos;';
        break;
      default:
        if (ch < 0x20 && ch !== 0x09 && ch !== 0x0a && ch !== 0x0d) break;
        out += value[i];
    }
  }
  return out;
}

/**
 * Escaping of an attribute value as libxml2's serialiser writes it (double-quoted), which is
 * what libvirt emits for the foreign-namespace content of `<metadata>`.
 */
export function escapeLibxml2Attribute(value: string): string {
  return value
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/\n/g, '&#10;')
    .replace(/\r/g, '&#13;')
    .replace(/\t/g, '&#9;');
}

/** Escaping of character data as libxml2's serialiser writes it. */
export function escapeLibxml2Text(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\r/g, '&#13;');
}
