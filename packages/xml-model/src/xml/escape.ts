/**
 * Escaping exactly as libvirt writes XML: the five markup characters become entities and
 * control characters other than tab, newline and carriage return are dropped (XML 1.0 cannot
 * carry them). libvirt uses single quotes around attribute values, so `'` must be escaped too.
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
