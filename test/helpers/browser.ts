/**
 * A real headless Chromium (Debian's, never a downloaded one) for console tests, and the sign-in
 * steps through the in-process OpenID Provider's development login and consent pages.
 */
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** A fresh browser profile under `dir`, with the flags this machine's closed network needs. */
export async function newBrowserContext(dir: string): Promise<BrowserContext> {
  const profile = await mkdtemp(join(dir, 'chromium-'));
  return chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: 30_000,
  });
}

/** Sign in from the console's sign-in page as `login` (any password; consent given). */
export async function signIn(page: Page, login: string): Promise<void> {
  await page.getByRole('link', { name: 'Sign in with OpenID Connect' }).click();
  await page.locator('input[name=login]').fill(login);
  await page.locator('input[name=password]').fill('any password');
  await page.locator('button[type=submit]').click();
  // The provider asks for consent the first time a human signs in to the console.
  await page.getByRole('button', { name: 'Continue' }).click();
}
