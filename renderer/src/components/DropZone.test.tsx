import { act, cleanup, render, screen, waitFor } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DropZone } from './DropZone';

afterEach(cleanup);

function fileEntry(fullPath: string) {
  const name = fullPath.split('/').pop()!;
  const file = new File(['x'], name);
  return { isFile: true, isDirectory: false, name, fullPath, file: (ok: (f: File) => void) => ok(file) };
}

function dirEntry(fullPath: string, children: unknown[]) {
  return {
    isFile: false,
    isDirectory: true,
    fullPath,
    createReader() {
      // Answers in two batches, then an empty one, as browsers do.
      const batches = [children.slice(0, 1), children.slice(1), []];
      return { readEntries: (ok: (b: unknown[]) => void) => ok(batches.shift() ?? []) };
    },
  };
}

function dragEvent(type: string, entries: unknown[]) {
  const event = new Event(type, { bubbles: true, cancelable: true });
  const items = entries.map((entry) => ({ kind: 'file', webkitGetAsEntry: () => entry, getAsFile: () => null }));
  Object.defineProperty(event, 'dataTransfer', { value: { types: ['Files'], items, files: [], dropEffect: 'none' } });
  return event;
}

describe('DropZone', () => {
  it('shows the overlay while dragging files and walks dropped folders', async () => {
    const onFiles = vi.fn();
    render(<DropZone onFiles={onFiles} />);
    expect(screen.queryByTestId('drop-overlay')).toBeNull();
    const entries = [dirEntry('/study', [fileEntry('/study/IM1'), dirEntry('/study/sub', [fileEntry('/study/sub/IM2')])]), fileEntry('/loose.dcm')];
    act(() => {
      window.dispatchEvent(dragEvent('dragenter', entries));
    });
    expect(screen.getByTestId('drop-overlay').textContent).toContain('Drop DICOM files or folders to import');
    act(() => {
      window.dispatchEvent(dragEvent('drop', entries));
    });
    expect(screen.queryByTestId('drop-overlay')).toBeNull();
    await waitFor(() => expect(onFiles).toHaveBeenCalled());
    const files = onFiles.mock.calls[0]![0] as { name: string; relativePath: string }[];
    expect(files.map((f) => [f.name, f.relativePath])).toEqual([
      ['IM1', 'study/IM1'],
      ['IM2', 'study/sub/IM2'],
      ['loose.dcm', ''],
    ]);
  });

  it('ignores drags that carry no files', () => {
    render(<DropZone onFiles={vi.fn()} />);
    const event = new Event('dragenter', { bubbles: true, cancelable: true });
    Object.defineProperty(event, 'dataTransfer', { value: { types: ['text/plain'], items: [] } });
    act(() => {
      window.dispatchEvent(event);
    });
    expect(screen.queryByTestId('drop-overlay')).toBeNull();
  });
});
