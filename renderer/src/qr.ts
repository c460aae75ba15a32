/** The QR code of `text` as an SVG data: URL (allowed by the page's CSP: img-src data:). */
export async function qrDataUrl(text: string): Promise<string> {
  // Loaded on first use: only the invite dialog needs it.
  const { default: QRCode } = await import('qrcode');
  const svg = await QRCode.toString(text, { type: 'svg', errorCorrectionLevel: 'L', margin: 2 });
  return `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
}
