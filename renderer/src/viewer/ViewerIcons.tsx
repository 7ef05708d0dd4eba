/** Toolbar icons for the viewer (inline SVG strokes, nothing fetched). */
interface P {
  readonly size?: number;
}
function Svg({ size = 18, children }: P & { children: React.ReactNode }) {
  return (
    <svg width={size} height={size} viewBox="0 0 24 24" fill="none" stroke="currentColor" strokeWidth={1.8} strokeLinecap="round" strokeLinejoin="round" aria-hidden="true" focusable="false">
      {children}
    </svg>
  );
}
export const IconBack = (p: P) => (
  <Svg {...p}>
    <path d="M15 6l-6 6 6 6" />
  </Svg>
);
export const IconWindowLevel = (p: P) => (
  <Svg {...p}>
    <circle cx="12" cy="12" r="8" />
    <path d="M12 4a8 8 0 0 0 0 16z" fill="currentColor" />
  </Svg>
);
export const IconPan = (p: P) => (
  <Svg {...p}>
    <path d="M12 3v18M3 12h18M12 3l-3 3M12 3l3 3M12 21l-3-3M12 21l3-3M3 12l3-3M3 12l3 3M21 12l-3-3M21 12l-3 3" />
  </Svg>
);
export const IconZoom = (p: P) => (
  <Svg {...p}>
    <circle cx="10.5" cy="10.5" r="6.5" />
    <path d="M20 20l-4.8-4.8M10.5 7.5v6M7.5 10.5h6" />
  </Svg>
);
export const IconLength = (p: P) => (
  <Svg {...p}>
    <path d="M4 20L20 4M4 20l2.5-.5M4 20l.5-2.5M20 4l-2.5.5M20 4l-.5 2.5M8 16l1.5 1.5M11 13l1.5 1.5M14 10l1.5 1.5" />
  </Svg>
);
export const IconAngle = (p: P) => (
  <Svg {...p}>
    <path d="M20 19H4L15 5" />
    <path d="M9 19a6 6 0 0 0-1.4-4" />
  </Svg>
);
export const IconRect = (p: P) => (
  <Svg {...p}>
    <rect x="4" y="6" width="16" height="12" rx="1" />
  </Svg>
);
export const IconEllipse = (p: P) => (
  <Svg {...p}>
    <ellipse cx="12" cy="12" rx="8.5" ry="6" />
  </Svg>
);
export const IconInvert = (p: P) => (
  <Svg {...p}>
    <rect x="4" y="4" width="16" height="16" rx="2" />
    <path d="M12 4v16h6a2 2 0 0 0 2-2V6a2 2 0 0 0-2-2z" fill="currentColor" />
  </Svg>
);
export const IconRotate = (p: P) => (
  <Svg {...p}>
    <path d="M20 11a8 8 0 1 0-2.3 5.7" />
    <path d="M20 4v7h-7" />
  </Svg>
);
export const IconFlipH = (p: P) => (
  <Svg {...p}>
    <path d="M12 3v18M9 7L4 17h5zM15 7l5 10h-5z" />
  </Svg>
);
export const IconFlipV = (p: P) => (
  <Svg {...p}>
    <path d="M3 12h18M7 9L17 4v5zM7 15l10 5v-5z" />
  </Svg>
);
export const IconReset = (p: P) => (
  <Svg {...p}>
    <path d="M4 12a8 8 0 1 0 2.3-5.7" />
    <path d="M4 4v5h5" />
  </Svg>
);
export const IconPlay = (p: P) => (
  <Svg {...p}>
    <path d="M7 5l12 7-12 7z" fill="currentColor" />
  </Svg>
);
export const IconStop = (p: P) => (
  <Svg {...p}>
    <rect x="6" y="6" width="12" height="12" fill="currentColor" />
  </Svg>
);
export function IconLayout({ layout, size = 18 }: { layout: string; size?: number }) {
  const [r, c] = layout.split('x').map(Number) as [number, number];
  const cells = [];
  for (let y = 0; y < r; y++) for (let x = 0; x < c; x++) cells.push(<rect key={`${x}-${y}`} x={3 + (x * 18) / c} y={3 + (y * 18) / r} width={18 / c - 1.5} height={18 / r - 1.5} rx="1" />);
  return (
    <Svg size={size}>
      {cells}
    </Svg>
  );
}
