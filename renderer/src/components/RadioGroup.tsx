import { useId } from 'react';

interface Props<T extends string | number> {
  legend: string;
  options: readonly { value: T; label: string }[];
  value: T;
  onChange: (value: T) => void;
  /** `choices`: radio buttons in a row; `segmented`: one bar of buttons, the chosen one filled. */
  look: 'choices' | 'segmented';
}

/** One choice out of a few, as a fieldset of radio buttons. */
export function RadioGroup<T extends string | number>({ legend, options, value, onChange, look }: Props<T>) {
  const name = useId();
  return (
    <fieldset className={look}>
      <legend>{legend}</legend>
      {options.map((o) => (
        <label key={o.value}>
          <input
            type="radio"
            name={name}
            value={o.value}
            checked={value === o.value}
            onChange={() => onChange(o.value)}
          />
          <span>{o.label}</span>
        </label>
      ))}
    </fieldset>
  );
}
