import type { ShownError } from '../hooks/use-errors';
import { t } from '../i18n/strings';
import { Alert, Close } from './Icons';

/** Non-blocking list of failed calls: code + message, each dismissible. */
export function ErrorBanner({ errors, onDismiss }: { errors: readonly ShownError[]; onDismiss: (id: number) => void }) {
  if (errors.length === 0) return null;
  return (
    <div className="error-banner" role="alert" data-testid="error-banner">
      {errors.map((e) => (
        <div className="error-item" key={e.id} data-testid="error-item">
          <Alert size={15} className="error-icon" />
          <span className="error-code">{e.code}</span>
          <span className="error-message">{e.message}</span>
          {e.repeat > 1 && <span className="error-repeat">×{e.repeat}</span>}
          <button type="button" className="icon-button" aria-label={t('error.dismiss')} title={t('error.dismiss')} onClick={() => onDismiss(e.id)}>
            <Close size={14} />
          </button>
        </div>
      ))}
    </div>
  );
}
