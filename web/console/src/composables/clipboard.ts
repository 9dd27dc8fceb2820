// Copying a value for the user (a one-time password, the embed snippet), with a toast saying
// whether it worked: clipboard access can be refused, and then the user copies by hand.
import { ElMessage } from 'element-plus';
import { useI18n } from 'vue-i18n';

export function useCopy() {
  const { t } = useI18n();
  return async function copy(text: string | null | undefined): Promise<void> {
    if (!text) return;
    try {
      await navigator.clipboard.writeText(text);
      ElMessage.success(t('common.copied'));
    } catch {
      ElMessage.warning(t('common.copyFailed'));
    }
  };
}
