import { useImperativeHandle, useRef, type Ref } from 'react';
import type { DroppedFile } from '../../../contract/ipc-contract';
import { filesFromInput } from '../lib/dropped-files';

export interface ImportPickersHandle {
  open(kind: 'folder' | 'files'): void;
}

/** Hidden file inputs: the page's stand-in for a native dialog when there is none (bridge host). */
export function ImportPickers({ ref, onFiles }: { ref: Ref<ImportPickersHandle>; onFiles: (files: DroppedFile[]) => void }) {
  const folderInput = useRef<HTMLInputElement>(null);
  const filesInput = useRef<HTMLInputElement>(null);

  useImperativeHandle(ref, () => ({
    open(kind) {
      const input = kind === 'folder' ? folderInput.current : filesInput.current;
      if (!input) return;
      input.value = '';
      input.click();
    },
  }));

  const onChange = (event: React.ChangeEvent<HTMLInputElement>) => {
    const files = filesFromInput(event.currentTarget.files);
    event.currentTarget.value = '';
    if (files.length > 0) onFiles(files);
  };

  return (
    <div hidden>
      <input
        ref={(el) => {
          folderInput.current = el;
          // Not in React's typings; the attribute turns the input into a folder picker.
          el?.setAttribute('webkitdirectory', '');
          el?.setAttribute('directory', '');
        }}
        type="file"
        data-testid="import-folder-input"
        tabIndex={-1}
        onChange={onChange}
      />
      <input ref={filesInput} type="file" multiple data-testid="import-files-input" tabIndex={-1} onChange={onChange} />
    </div>
  );
}
