// Who is signed in and what they may do (permissions come from the server, never guessed from
// the role). `ended` is set when the server reports the session gone, so the login page can say so.
import { defineStore } from 'pinia';
import { computed, ref } from 'vue';
import { api, ApiError } from '../api/client.ts';
import type { MfaChallenge, Permission, User } from '../api/types.ts';

/** What a sign-in step led to: a session, or a request for the second factor. */
export type SignInStep = { kind: 'signed-in'; user: User } | { kind: 'mfa'; challenge: MfaChallenge };

export type SessionStatus = 'unknown' | 'signed-in' | 'signed-out';

export const useSessionStore = defineStore('session', () => {
  const user = ref<User | null>(null);
  const permissions = ref<string[]>([]);
  const status = ref<SessionStatus>('unknown');
  const ended = ref(false);
  /** The security policy wants two-factor sign-in for this user's role and it is not set up yet. */
  const mfaEnrollmentRequired = ref(false);

  const mustChangePassword = computed(() => user.value?.mustChangePassword === true);

  function can(permission: Permission): boolean {
    return permissions.value.includes(permission);
  }

  function signedIn(u: User, perms: string[]) {
    user.value = u;
    permissions.value = perms;
    status.value = 'signed-in';
    ended.value = false;
  }

  function signedOut() {
    user.value = null;
    permissions.value = [];
    mfaEnrollmentRequired.value = false;
    status.value = 'signed-out';
  }

  /** Asks the server who we are; a 401 just means "not signed in". */
  async function load(): Promise<void> {
    try {
      const me = await api.auth.me();
      signedIn(me.user, me.permissions);
      mfaEnrollmentRequired.value = me.mfaEnrollmentRequired;
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) signedOut();
      else throw err;
    }
  }

  async function finish(outcome: Awaited<ReturnType<typeof api.auth.login>>): Promise<SignInStep> {
    if ('mfaRequired' in outcome) return { kind: 'mfa', challenge: outcome };
    signedIn(outcome.user, outcome.permissions);
    // The sign-in answer does not say whether 2FA enrolment is due; /me does.
    await load();
    return { kind: 'signed-in', user: user.value ?? outcome.user };
  }

  async function login(username: string, password: string): Promise<SignInStep> {
    return finish(await api.auth.login(username, password));
  }

  async function secondFactor(
    challenge: string,
    answer: { code: string } | { recoveryCode: string },
  ): Promise<SignInStep> {
    return finish(await api.auth.secondFactor(challenge, answer));
  }

  /** Two-factor sign-in was just switched on or off for this user. */
  function totpChanged(enabled: boolean): void {
    if (user.value) user.value = { ...user.value, totpEnabled: enabled };
    if (enabled) mfaEnrollmentRequired.value = false;
  }

  async function logout(): Promise<void> {
    try {
      await api.auth.logout();
    } catch (err) {
      // Already gone on the server: signing out locally is all that is left to do.
      if (!(err instanceof ApiError && err.status === 401)) throw err;
    }
    signedOut();
    ended.value = false;
  }

  async function changePassword(currentPassword: string, newPassword: string): Promise<void> {
    await api.auth.changePassword(currentPassword, newPassword);
    if (user.value) user.value = { ...user.value, mustChangePassword: false };
  }

  /** The server said the session is gone (expired, revoked, account disabled). */
  function expire(): void {
    if (status.value === 'signed-in') ended.value = true;
    signedOut();
  }

  return {
    user,
    permissions,
    status,
    ended,
    mfaEnrollmentRequired,
    mustChangePassword,
    can,
    load,
    login,
    secondFactor,
    totpChanged,
    logout,
    changePassword,
    expire,
  };
});
