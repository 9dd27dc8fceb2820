// What the console's list-and-dialog pages (users, teams, canned replies, widget, contacts)
// share: loading the page's data with one error line, a form dialog whose server validation
// errors land on the field they name, and confirm-then-act / act-or-report helpers that show the
// outcome as a toast.
import { ElMessage, ElMessageBox } from 'element-plus';
import { computed, onMounted, reactive, ref } from 'vue';
import { useI18n } from 'vue-i18n';
import { ApiError } from '../api/client.ts';
import { describeError } from '../api/errors.ts';
import type { Permission } from '../api/types.ts';
import { useSessionStore } from '../stores/session.ts';

/** A failure as a form shows it: on the field the server named, or above the form. */
export interface FormError {
  field: string | undefined;
  text: string;
}

/** Loads the page's data on mount; `load()` again refreshes it. */
export function usePageLoad(fetchAndApply: () => Promise<void>) {
  const { t } = useI18n();
  const loading = ref(true);
  const loadError = ref('');
  async function load() {
    loading.value = true;
    try {
      await fetchAndApply();
      loadError.value = '';
    } catch (err) {
      loadError.value = describeError(err, t);
    } finally {
      loading.value = false;
    }
  }
  onMounted(load);
  return { loading, loadError, load };
}

/**
 * A create/edit dialog's state: its fields, open/saving flags and the last error.
 * `submit` runs the save, closes the dialog on success and keeps the error otherwise.
 */
export function useFormDialog<F extends object>(fields: F) {
  const { t } = useI18n();
  const dialog = reactive({
    ...fields,
    open: false,
    saving: false,
    error: null as FormError | null,
  });
  function show(values: Partial<F>) {
    Object.assign(dialog, { ...fields, ...values, open: true, error: null });
  }
  function fieldError(field: string): string {
    return dialog.error?.field === field ? dialog.error.text : '';
  }
  async function submit(save: () => Promise<void>) {
    dialog.saving = true;
    dialog.error = null;
    try {
      await save();
      dialog.open = false;
    } catch (err) {
      dialog.error = formError(err, t);
    } finally {
      dialog.saving = false;
    }
  }
  /** What <FormDialog v-bind="bind"> needs from the state. */
  const bind = computed(() => ({
    open: dialog.open,
    'onUpdate:open': (value: boolean) => (dialog.open = value),
    saving: dialog.saving,
    error: dialog.error,
  }));
  return { dialog, show, fieldError, submit, bind };
}

export function formError(err: unknown, t: Parameters<typeof describeError>[1]): FormError {
  return { field: err instanceof ApiError ? err.field : undefined, text: describeError(err, t) };
}

export function useActions() {
  const { t } = useI18n();

  /** Asks before a destructive step; false when the user cancels. */
  async function confirmed(message: string, title: string, confirmText = title): Promise<boolean> {
    try {
      await ElMessageBox.confirm(message, title, {
        type: 'warning',
        confirmButtonText: confirmText,
        cancelButtonText: t('common.cancel'),
      });
      return true;
    } catch {
      return false;
    }
  }

  /** Runs an action; a success text is toasted, a failure is toasted and reported as false. */
  async function attempt(action: () => Promise<unknown>, success?: string): Promise<boolean> {
    try {
      await action();
      if (success) ElMessage.success(success);
      return true;
    } catch (err) {
      ElMessage.error(describeError(err, t));
      return false;
    }
  }

  /** Asks, deletes, says so (or what went wrong). */
  async function confirmDelete(message: string, remove: () => Promise<void>): Promise<void> {
    if (await confirmed(message, t('common.delete'))) await attempt(remove, t('common.deleted'));
  }

  return { confirmed, attempt, confirmDelete };
}

/** A list the page shows only to users allowed to read it; empty for the others. */
export function listIfAllowed<T>(permission: Permission, fetch: () => Promise<T[]>): Promise<T[]> {
  return useSessionStore().can(permission) ? fetch() : Promise.resolve([]);
}
